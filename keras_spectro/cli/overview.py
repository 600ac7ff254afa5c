"""The figure of `keras-spectro show` for a recording of any length, in bounded memory.

The file is read a chunk at a time; STFT frames and samples are pooled, as they
come, down to the columns a figure can show, so memory does not grow with the
recording's length and time grows linearly with it.
"""

import keras
import numpy as np

from keras_spectro.audio_io import open_audio, read_frames
from keras_spectro.functional.spectrum import stft_settings
from keras_spectro.layers.stft import STFTSplit
from keras_spectro.utils import new_figure

COLUMNS = 2000  # at most this many time columns in the spectrogram and the waveform envelope
CHUNK_FRAMES = 256  # STFT frames computed at a time
CHUNK_SAMPLES = 2**18  # samples read at a time for the waveform envelope


def select(path, file, start=0.0, duration=None):
    """The samples `(first, stop)` of `start` seconds on for `duration` seconds (None: to the end)."""
    rate, total = file.samplerate, file.frames
    first = round(start * rate)
    if not 0 <= first < total:
        raise ValueError(f"{path}: start {start:g} s is not inside the file ({total / rate:.3f} s long).")
    stop = total if duration is None else first + round(duration * rate)
    if stop <= first:
        raise ValueError(f"{path}: duration {duration:g} s is less than one sample at {rate} Hz.")
    if stop > total:
        raise ValueError(
            f"{path}: start {start:g} s + duration {duration:g} s runs past the end of the file ({total / rate:.3f} s long)."
        )
    return first, stop


def _pool(ufunc, out, values, first, per):
    """Folds `values` (along axis 0) into `out[(first + i) // per]` with `ufunc` (np.add, np.minimum, ...)."""
    index = (first + np.arange(len(values))) // per
    starts = np.flatnonzero(np.diff(index, prepend=-1))
    column = index[0]
    out[column : column + len(starts)] = ufunc(
        out[column : column + len(starts)], ufunc.reduceat(values, starts, axis=0)
    )


def spectrogram(file, first, stop, n_fft=2048, hop_length=512, columns=COLUMNS, chunk_frames=CHUNK_FRAMES):
    """Mean power of the centred STFT of samples `first:stop`, pooled in time to at most `columns` columns.

    Frame t is centred on sample `first + t * hop_length` with zeros outside the part, as
    `STFTSplit(center=True)` on the part alone. Returns `(columns, bins, channels)` and the
    frames pooled into each column.
    """
    stft = STFTSplit(n_fft=n_fft, hop_length=hop_length, center=False, data_format="channels_last")
    frames = stft_settings(n_fft, hop_length).frames_for(stop - first)  # centred frames, as center=True
    per = -(-frames // columns)
    total = np.zeros((-(-frames // per), n_fft // 2 + 1, file.channels), "float32")
    size = min(chunk_frames, frames)  # every chunk this many frames, the last one padded: one shape to compile
    for t in range(0, frames, size):
        begin = first + t * hop_length - n_fft // 2  # the first sample of frame t
        wave = np.zeros(((size - 1) * hop_length + n_fft, file.channels), "float32")
        inside = max(begin, first), min(begin + len(wave), stop)
        wave[inside[0] - begin : inside[1] - begin] = read_frames(file, *inside)
        image = keras.ops.convert_to_numpy(stft(wave[None]))[0]  # (bins, size, 2 * channels): real, imaginary, ...
        power = image[..., 0::2] ** 2 + image[..., 1::2] ** 2
        _pool(np.add, total, power[:, : frames - t].transpose(1, 0, 2), t, per)
    total /= np.minimum(per, frames - per * np.arange(len(total)))[:, None, None]
    return total, per


def envelope(file, first, stop, columns=COLUMNS, chunk_samples=CHUNK_SAMPLES):
    """The min and max of samples `first:stop` in at most `columns` columns: `(low, high, samples per column)`."""
    per = -(-(stop - first) // columns)
    shape = (-(-(stop - first) // per), file.channels)
    low, high = np.full(shape, np.inf, "float32"), np.full(shape, -np.inf, "float32")
    for begin in range(first, stop, chunk_samples):
        wave = read_frames(file, begin, min(begin + chunk_samples, stop))
        _pool(np.minimum, low, wave, begin - first, per)
        _pool(np.maximum, high, wave, begin - first, per)
    return low, high, per


def draw(path, out, start=0.0, duration=None, n_fft=2048, hop_length=512, top_db=80.0):
    """Writes the figure: for each channel, the spectrogram (dB, down to `top_db` below the peak) and the waveform (its min/max envelope)."""
    with open_audio(path) as file:
        rate, channels = file.samplerate, file.channels
        first, stop = select(path, file, start, duration)
        power, per = spectrogram(file, first, stop, n_fft, hop_length)
        low, high, step = envelope(file, first, stop)
    db = np.log10(np.maximum(power, 1e-20, out=power), out=power)  # in place: memory bounded by the figure
    db *= 10
    loudest = db.max()
    begin, seconds = first / rate, len(db) * per * hop_length / rate
    times = begin + (np.arange(len(low)) + 0.5) * step / rate
    fig = new_figure(figsize=(12, 3 * channels), layout="constrained")
    axes = fig.subplots(channels, 2, squeeze=False)
    for k in range(channels):
        ax = axes[k, 0]
        artist = ax.imshow(
            db[:, :, k].T, origin="lower", aspect="auto", cmap="magma", vmin=loudest - top_db, vmax=loudest,
            extent=(begin, begin + seconds, 0, rate / 2),
        )  # fmt: skip
        ax.set(title=f"channel {k}: spectrogram (dB)", xlabel="Time (s)", ylabel="Frequency (Hz)")
        fig.colorbar(artist, ax=ax)
        ax = axes[k, 1]
        ax.fill_between(times, low[:, k], high[:, k], color="C0", lw=0.5)
        ax.set(title=f"channel {k}: waveform", xlabel="Time (s)", xlim=(begin, stop / rate))
    fig.savefig(out, dpi=80)
    return out

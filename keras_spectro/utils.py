"""Looking at spectrograms and waveforms (matplotlib), and writing WAV files (`save_wav`, over `audio_io`)."""

import os
import warnings
from typing import Any

import keras
import numpy as np

from keras_spectro.audio_io import write_audio

__all__ = ["plot_spectrogram", "plot_waveform", "magnitudes", "new_figure", "save_wav"]

REDUCTIONS = {"mean": np.mean, "max": np.max, "min": np.min}


def new_figure(**kwargs: Any) -> Any:
    """A matplotlib `Figure` that needs no pyplot and leaves the session's backend alone (save it with `savefig`).

    Matplotlib is the `plot` extra: without it, an ImportError says how to install it.

    Example: `fig = new_figure(figsize=(8, 4)); ax = fig.subplots(); plot_waveform(ax, wave); fig.savefig("w.png")`
    """
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            'Plotting needs matplotlib, which keras_spectro installs as an extra: pip install "keras_spectro[plot]".'
        ) from None
    return Figure(**kwargs)


def magnitudes(image: Any, representation: str = "real_imag", data_format: str | None = None) -> np.ndarray:
    """The magnitude of each audio channel of one image: `(bins, frames, channels)`.

    Example: `magnitudes(stft(waves)[0])` for a stereo image → `(bins, frames, 2)`.
    """
    image = np.asarray(keras.ops.convert_to_numpy(image), "float64")
    if image.ndim != 3:
        raise ValueError(
            f"Expected one image (bins, frames, 2*channels) or (2*channels, bins, frames); got shape {image.shape}."
        )
    if (data_format or keras.config.image_data_format()) == "channels_first":
        image = np.moveaxis(image, 0, -1)
    if image.shape[-1] % 2:
        raise ValueError(f"The image needs 2 channels per audio channel; got {image.shape[-1]}.")
    first, second = image[..., 0::2], image[..., 1::2]
    if representation == "real_imag":
        return np.hypot(first, second)
    if representation == "mag_phase":
        return np.abs(first)
    raise ValueError(f"representation must be 'real_imag' or 'mag_phase'; got {representation!r}.")


def plot_spectrogram(
    ax,
    image,
    channel=None,
    reduce="mean",
    db_power=None,
    representation="real_imag",
    sample_rate=None,
    hop_length=None,
    data_format=None,
    **imshow_kwargs,
):
    """Shows one image of `STFTSplit` on `ax`: low frequencies at the bottom.

    Args:
        channel: the audio channel to show; None reduces the magnitudes of all
            channels with `reduce` (`"mean"`, `"max"` or `"min"`).
        db_power: None shows the magnitude; a number shows
            `10 * log10(|X| ** db_power)` dB (2: amplitude in dB, 1: power in dB).
        sample_rate, hop_length: label the axes in Hz and seconds.

    Returns the `AxesImage`, e.g. for `fig.colorbar(...)`.

    Example: `plot_spectrogram(ax, images[0], db_power=2, sample_rate=44100, hop_length=256)`
    """
    values = magnitudes(image, representation, data_format)
    if channel is not None:
        if not -values.shape[-1] <= channel < values.shape[-1]:
            raise ValueError(f"channel {channel} does not exist: the image has {values.shape[-1]} audio channels.")
        values = values[..., channel]
    elif reduce in REDUCTIONS:
        values = REDUCTIONS[reduce](values, axis=-1)
    else:
        raise ValueError(f"reduce must be one of {sorted(REDUCTIONS)}; got {reduce!r}.")
    if db_power is not None:
        values = 10 * np.log10(np.maximum(values, 1e-10) ** db_power)
    bins, frames = values.shape
    if sample_rate:
        seconds = frames * hop_length / sample_rate if hop_length else None
        extent = (0, seconds or frames, 0, sample_rate / 2)
        ax.set_xlabel("Time (s)" if hop_length else "Frame")
        ax.set_ylabel("Frequency (Hz)")
    else:
        extent = (0, frames, 0, bins)
        ax.set_xlabel("Frame")
        ax.set_ylabel("Frequency bin")
    return ax.imshow(values, origin="lower", aspect="auto", extent=extent, **{"cmap": "magma", **imshow_kwargs})


def plot_waveform(ax, wave, channel=None, mode="stack", sample_rate=None):
    """Plots a `(samples, channels)` waveform (or a mono `(samples,)` one) on `ax`.

    `mode="stack"` draws every channel, one above the other; `"mean"` draws
    the mean over channels at each instant; `channel=k` draws channel k only.
    Returns the lines.

    Example: `plot_waveform(ax, wave, sample_rate=44100)`
    """
    wave = np.asarray(keras.ops.convert_to_numpy(wave), "float64")
    wave = wave[:, None] if wave.ndim == 1 else wave
    if wave.ndim != 2:
        raise ValueError(f"Expected one waveform (samples, channels); got shape {wave.shape}.")
    time = np.arange(len(wave)) / sample_rate if sample_rate else np.arange(len(wave))
    ax.set_xlabel("Time (s)" if sample_rate else "Sample")
    if channel is not None:
        if not -wave.shape[1] <= channel < wave.shape[1]:
            raise ValueError(f"channel {channel} does not exist: the waveform has {wave.shape[1]} channels.")
        return ax.plot(time, wave[:, channel], lw=0.5, label=f"channel {channel}")
    if mode == "mean":
        return ax.plot(time, wave.mean(axis=1), lw=0.5, label="mean of channels")
    if mode != "stack":
        raise ValueError(f"mode must be 'stack' or 'mean'; got {mode!r}.")
    step = 2 * max(np.abs(wave).max(), 1e-12)
    lines = [ax.plot(time, wave[:, k] - k * step, lw=0.5, label=f"channel {k}")[0] for k in range(wave.shape[1])]
    ax.set_yticks([-k * step for k in range(wave.shape[1])], [f"ch {k}" for k in range(wave.shape[1])])
    return lines


def save_wav(path: str | os.PathLike, wave: Any, sample_rate: int, subtype: str = "PCM_16") -> None:
    """Writes `(samples, channels)` or mono `(samples,)` audio, atomically.

    NaN or inf is refused (nothing is written); PCM subtypes clip samples
    outside [-1, 1] with a warning. The file appears whole or not at all.

    Example: `save_wav("denoised.wav", wave, 44100, subtype="PCM_24")`
    """
    clipped = write_audio(path, keras.ops.convert_to_numpy(wave), sample_rate, subtype, clip=True, fmt="WAV")
    if clipped:
        warnings.warn(f"{os.fspath(path)}: {clipped} samples outside [-1, 1] were clipped.", stacklevel=2)

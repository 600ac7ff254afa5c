"""Long recordings piece by piece: `open_audio` and `process_file` (also in `keras_spectro.audio`)."""

import math
import os
import secrets

import keras
import numpy as np
import soundfile

from keras_spectro.layers.stft import InverseSTFTSplit, STFTSplit

FORMATS = {".wav": "WAV", ".flac": "FLAC"}


def open_audio(path):
    """Opens an audio file for reading (a `soundfile.SoundFile`), with errors that name it.

    Example: `with open_audio("long.flac") as file: print(file.frames, file.samplerate)`
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such audio file.")
    try:
        file = soundfile.SoundFile(path)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as error:
        raise ValueError(f"{path}: not an audio file that can be read ({error}).") from None
    if file.frames <= 0:
        file.close()
        raise ValueError(f"{path}: the file holds no samples.")
    return file


def read_frames(file, start, stop):
    """Samples `start:stop` of an open file as float32 `(samples, channels)`; only those are read."""
    try:
        file.seek(start)
        return file.read(stop - start, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError) as error:
        raise ValueError(f"{file.name}: not an audio file that can be read ({error}).") from None


def process_file(model, source, target, chunk_seconds=10.0, overlap_seconds=1.0, subtype=None, verbose=1):
    """Runs an audio-to-audio model over a recording of any length, chunk by chunk.

    Memory is bounded by one chunk. Consecutive chunks overlap by `overlap_seconds`;
    in each overlap the earlier chunk's output keeps weight 1 for the first
    quarter, fades linearly to 0 over the middle half and has weight 0 in the last
    quarter (the later chunk gets 1 minus that). Each chunk's output is thus used
    only at least a quarter overlap away from its own edges, and chunks start at
    multiples of the model's STFT hop (the chunk step is rounded down to one), so
    for a linear model (e.g. a fixed gain per frequency bin) the result equals
    processing the whole file at once, to float32 rounding. That needs a quarter of
    the overlap to be at least `n_fft + hop_length` samples of the model's largest
    STFT (a ValueError says otherwise); a network that looks across frames needs
    more. The target is written to a temporary file in its folder and renamed at
    the end: an error leaves neither a partial target nor the temporary behind.

    Args:
        model: a Keras model (or a `.keras` path, or a layer such as a
            `SpectrogramDomain`) from waveforms `(batch, samples, channels)` to
            waveforms of the same sample count.
        source: an audio file (any libsndfile format); its channel count must
            be the model's input channel count. The output has its sample rate.
        target: a `.wav` or `.flac` path (the extension picks the format).
        chunk_seconds, overlap_seconds: the chunk length and the overlap.
        subtype: e.g. `"PCM_16"`, `"FLOAT"`; default: the source's subtype when
            the target format has it, else `"PCM_24"` (e.g. float into FLAC).
        verbose: 0 for silence; otherwise a progress bar when there is more than one chunk.

    Returns: the target path.

    Example:

    ```python
    model = keras.Sequential([keras.Input((None, 2)), SpectrogramDomain(pipeline, network)])
    process_file(model, "concert.flac", "concert_clean.flac", chunk_seconds=20)
    ```
    """
    source, target = os.fspath(source), os.fspath(target)
    fmt = FORMATS.get(os.path.splitext(target)[1].lower())
    if fmt is None:
        raise ValueError(f"{target}: the target must end in .wav or .flac (it picks the format).")
    folder = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{target}: the folder {folder} does not exist.")
    if os.path.isdir(target):
        raise IsADirectoryError(f"{target}: is a folder, not a file name.")
    if isinstance(model, (str, os.PathLike)):
        model = keras.saving.load_model(model, compile=False)
    with open_audio(source) as file:
        wanted = _input_channels(model)
        if wanted is not None and wanted != file.channels:
            raise ValueError(f"{source} has {file.channels} channel(s), but the model takes {wanted}.")
        step, overlap = _chunk_step(model, file.samplerate, chunk_seconds, overlap_seconds)
        subtype = _subtype(fmt, file.subtype, subtype)
        predict = model.predict_on_batch if isinstance(model, keras.Model) else lambda x: keras.ops.convert_to_numpy(model(x))
        fade = _fade(overlap)
        starts = range(0, max(file.frames - overlap, 1), step)
        progress = keras.utils.Progbar(len(starts), unit_name="chunk") if verbose and len(starts) > 1 else None
        temporary = os.path.join(folder, f".{os.path.basename(target)}.{secrets.token_hex(4)}.tmp")
        out, pending = None, None
        try:
            for i, start in enumerate(starts):
                stop = min(start + step + overlap, file.frames)
                wave = read_frames(file, start, stop)
                result = np.array(predict(wave[None]), dtype="float32")[0]
                if result.ndim != 2 or len(result) != len(wave):
                    raise ValueError(f"The model must return (batch, samples, channels) with the samples it gets; it maps {wave[None].shape} to {(1,) + result.shape}.")
                if pending is not None:
                    result[:overlap] = pending + result[:overlap] * (1 - fade)
                if stop < file.frames:
                    pending = result[step:] * fade
                    result = result[:step]
                if out is None:
                    out = soundfile.SoundFile(temporary, "x", file.samplerate, result.shape[1], subtype, format=fmt)
                out.write(result)
                if progress:
                    progress.update(i + 1)
            out.close()
            os.replace(temporary, target)
        except BaseException:
            if out is not None:
                out.close()
            if os.path.exists(temporary):
                os.remove(temporary)
            raise
    return target


def _input_channels(model):
    """The channel count the model takes, when it is known."""
    try:
        return model.inputs[0].shape[-1]
    except (AttributeError, IndexError, TypeError, ValueError):
        axes = getattr(getattr(model, "input_spec", None), "axes", None) or {}
        return axes.get(2, axes.get(-1))


def _stft_layers(layer, seen):
    """The STFT layers anywhere inside `layer` (sub-models, pipelines, networks)."""
    if id(layer) in seen:
        return
    seen.add(id(layer))
    if isinstance(layer, (STFTSplit, InverseSTFTSplit)):
        yield layer
    children = list(getattr(layer, "steps", None) or getattr(layer, "layers", None) or [])
    children += [getattr(layer, "pipeline", None), getattr(layer, "network", None), *getattr(layer, "_layers", [])]
    for child in children:
        if isinstance(child, keras.layers.Layer):
            yield from _stft_layers(child, seen)


def _chunk_step(model, rate, chunk_seconds, overlap_seconds):
    """(step, overlap) in samples: chunk starts every `step` samples, a multiple of every STFT hop."""
    chunk, overlap = round(chunk_seconds * rate), round(overlap_seconds * rate)
    if chunk < 1:
        raise ValueError(f"chunk_seconds={chunk_seconds} is less than one sample at {rate} Hz.")
    if not 0 <= overlap < chunk:
        raise ValueError(f"overlap_seconds must be at least 0 and less than chunk_seconds; got {overlap_seconds} and {chunk_seconds}.")
    stfts = list(_stft_layers(model, set()))
    hop = math.lcm(1, *(layer.hop_length for layer in stfts))
    need = max((layer.n_fft + layer.hop_length for layer in stfts), default=0)
    if overlap // 4 < need:
        raise ValueError(
            f"overlap_seconds={overlap_seconds} is too short for the model's STFT: a quarter of the overlap must be "
            f"at least n_fft + hop_length = {need} samples, so overlap_seconds >= {4 * need / rate:.3g} at {rate} Hz."
        )
    step = (chunk - overlap) // hop * hop
    if step < 1:
        raise ValueError(f"chunk_seconds ({chunk_seconds}) must exceed overlap_seconds ({overlap_seconds}) by at least the STFT hop, {hop} samples.")
    return step, overlap


def _subtype(fmt, source_subtype, subtype):
    if subtype is None:
        return source_subtype if soundfile.check_format(fmt, source_subtype) else "PCM_24"
    if not soundfile.check_format(fmt, subtype):
        raise ValueError(f"{fmt} files cannot hold subtype {subtype!r}; pick one of {sorted(soundfile.available_subtypes(fmt))}.")
    return subtype


def _fade(overlap):
    """The earlier chunk's weight over an overlap: 1 for a quarter, a linear ramp over half, 0 for a quarter."""
    quarter = overlap // 4
    ramp = overlap - 2 * quarter
    weights = np.concatenate([np.ones(quarter), 1 - (np.arange(ramp) + 0.5) / ramp, np.zeros(quarter)])
    return weights.astype("float32")[:, None]

"""Long recordings piece by piece: `process_file` (public in `keras_spectro.audio`), and what `process_files` shares."""

import math
import os
import signal
import threading

import keras
import numpy as np

from keras_spectro.audio_io import (
    BlockWriter,
    atomic_writes,
    check_target,
    open_audio,
    read_part,
    resampled_length,
    target_subtype,
)
from keras_spectro.layers.domain import SpectrogramDomain
from keras_spectro.layers.padding import AudioPadding
from keras_spectro.layers.pipeline import SpectrogramPipeline
from keras_spectro.layers.stft import InverseSTFTSplit, STFTSplit


class Terminated(SystemExit):
    """Raised inside `process_file` on SIGTERM (after its cleanup), with exit code 128 + 15."""


def process_file(
    model, source, target, chunk_seconds=10.0, overlap_seconds=1.0, subtype=None, verbose=1, clip=False, resample=False
):
    """Runs an audio-to-audio model over a recording of any length, chunk by chunk.

    Memory is bounded by one chunk. Consecutive chunks overlap by about
    `overlap_seconds`; in each overlap the earlier chunk's output keeps weight 1
    for the first quarter, fades linearly to 0 over the middle half and has
    weight 0 in the last quarter (the later chunk gets 1 minus that). Chunks
    start at multiples of the model's STFT hop, and every chunk is run with one
    shape: the last one ends at the end of the file, padded with fewer than a
    hop of zeros (the overlap is rounded up so that this pads no frame in), or,
    where a `SpectrogramDomain` would then end it with another frame count than
    the whole file (it pads poorly covered lengths, e.g. with 50 % overlap), to
    the whole file's frames (one shape more). A recording no longer than one chunk is run once, at its own length (so one
    model run over several such files sees several shapes). So for a
    linear model (e.g. a fixed gain per frequency bin) with `pad_mode="constant"`
    the result equals processing the whole file at once, to float32 rounding
    (with `pad_mode="reflect"` the last `n_fft // 2` samples see those zeros
    instead of a reflection). That needs a quarter of the overlap to be at
    least `n_fft + hop_length` samples of the model's largest STFT (a
    ValueError says otherwise); a network that looks across frames needs more.

    Refused before the model runs, with a ValueError: a target that is the
    source; a model holding `AudioPadding` (it would pad or cut every chunk);
    a recording at another rate than the model's `sample_rate`, unless
    `resample=True`; a subtype the target format cannot write; a model with
    several sources and a target without `{source}`. NaN or inf in
    the model's output is a ValueError. The target is written to a temporary
    file in its folder and renamed at the end: an error, Ctrl-C or SIGTERM
    leaves neither a partial target nor the temporary behind (SIGTERM raises
    `Terminated`, a `SystemExit` with code 143, after the cleanup).

    A separation model (`SpectrogramDomain(..., sources=K)`) writes one file
    per source: `{source}` in the target becomes 0, 1, ..., K - 1
    (`"mix_{source}.wav"` → `mix_0.wav`, `mix_1.wav`), each chunked, checked and
    cross-faded as above; the files appear together at the end or, after an
    error in any of them, none does. A model with one source writes `{source}`
    as 0.

    Args:
        model: a Keras model (or a `.keras` path, or a layer such as a
            `SpectrogramDomain`) from waveforms `(batch, samples, channels)`
            (or `(batch, channels, samples)` for a `channels_first` domain) to
            waveforms of the same shape.
        source: an audio file (any libsndfile format); its channel count must
            be the model's input channel count. The output has its sample rate
            and sample count.
        target: a `.wav` or `.flac` path (the extension picks the format);
            with `{source}` in it for a model with several sources.
        chunk_seconds, overlap_seconds: the chunk length and the overlap.
        subtype: e.g. `"PCM_16"`, `"FLOAT"`; default: the source's subtype when
            the target format can write it, else `"PCM_24"` (e.g. float into
            FLAC, MP3 or Ogg into WAV).
        verbose: 0 for silence; otherwise a progress bar when there is more than one chunk.
        clip: output beyond [-1, 1] for a subtype other than FLOAT or DOUBLE
            (every FLAC) is a ValueError naming the peak; `clip=True` clips it
            with a warning instead, as `save_wav` does. FLOAT and DOUBLE keep it.
        resample: for a model that knows its rate (`SpectrogramDomain.sample_rate`)
            and a recording at another, convert each chunk to the model's rate
            (as `load_audio(..., resample=True)`, soxr "HQ") and the output back
            (a soxr stream), instead of refusing the recording.

    Returns: the target path; for a target with `{source}`, the list of the paths written.

    Example:

    ```python
    model = keras.Sequential([keras.Input((None, 2)), SpectrogramDomain(pipeline, network)])
    process_file(model, "concert.flac", "concert_clean.flac", chunk_seconds=20)
    process_file(separator, "mix.flac", "mix_{source}.flac")  # a 2-source model: mix_0.flac, mix_1.flac
    ```
    """
    source, target = os.fspath(source), os.fspath(target)
    fmt = check_target(source, target)
    model, parts = model_parts(model)
    targets = source_targets(source, target, parts.sources)
    with open_audio(source) as file:
        rate = parts.check_source(file, resample)
        subtype = target_subtype(fmt, file, subtype, target)
        total, starts, sizes, (step, overlap, length, hop) = parts.chunks(file, rate, chunk_seconds, overlap_seconds)
        progress = keras.utils.Progbar(len(starts), unit_name="chunk") if verbose and len(starts) > 1 else None
        restore, writers = _on_sigterm(), []
        try:
            with atomic_writes(targets) as temporaries:
                try:
                    for temporary, path in zip(temporaries, targets):
                        writers.append(BlockWriter(temporary, path, fmt, subtype, file, rate, clip))

                    def write(block):  # (samples, sources, channels)
                        for k, writer in enumerate(writers):
                            writer(block[:, k])

                    _process_chunks(model, parts, file, write, starts, sizes, length, total, rate, overlap, progress)
                    for writer in writers:
                        writer.finish()
                finally:
                    for writer in writers:
                        writer.close()
        finally:
            restore()
    return targets if "{source}" in target else target


class ModelParts:
    """What `process_file` and `process_files` need to know of a model: its layers, sources, layout, rate, channels."""

    def __init__(self, model):
        self.inner = list(_inner_layers(model, set()))
        self.sources = next((layer.sources for layer in self.inner if isinstance(layer, SpectrogramDomain)), 1)
        padding = next((layer for layer in self.inner if isinstance(layer, AudioPadding)), None)
        if padding is not None:
            raise ValueError(
                f"The model holds AudioPadding(length={padding.length}), which pads or cuts every chunk to {padding.length} samples: "
                "process_file cannot run it piece by piece; call the model on the whole recording instead."
            )
        self.channels_first = _data_format(self.inner) == "channels_first"
        self.channels = _input_channels(model, self.channels_first)
        self.rate = _model_rate(self.inner)
        stfts = [layer for layer in self.inner if isinstance(layer, (STFTSplit, InverseSTFTSplit))]
        self.hop = math.lcm(1, *(layer.hop_length for layer in stfts))
        self.n_fft = max((layer.n_fft for layer in stfts), default=1)

    def check_source(self, file, resample):
        """The rate to run `file` at (the model's, else the file's); a wrong channel count or rate is a ValueError."""
        if self.channels is not None and self.channels != file.channels:
            raise ValueError(f"{file.name} has {file.channels} channel(s), but the model takes {self.channels}.")
        rate = self.rate or file.samplerate
        if rate != file.samplerate and not resample:
            raise ValueError(
                f"{file.name}: sample rate {file.samplerate} Hz, but the model was made for {rate} Hz "
                "(pass resample=True, or --resample, to convert the recording)."
            )
        return rate

    def chunks(self, file, rate, chunk_seconds, overlap_seconds):
        """(total, starts, sizes, (step, overlap, length, hop)): the file's sample count at `rate`, where its chunks
        start, and the sizes they run at (zero-padded): `length` for all, but a recording of one chunk runs at its own
        length, and the last chunk at the size that gives the whole file's frames (`_last_size`)."""
        total = resampled_length(file.frames, file.samplerate, rate)
        step, overlap, length, hop = _chunk_step(self.inner, rate, chunk_seconds, overlap_seconds)
        starts = [*range(0, total - length, step), max(0, -(-(total - length) // hop) * hop)]
        sizes = [length] * (len(starts) - 1) + [_last_size(self.inner, length, starts[-1], total, len(starts) > 1)]
        return total, starts, sizes, (step, overlap, length, hop)


def model_parts(model):
    """(model, `ModelParts`): a `.keras` path is loaded first; a model holding `AudioPadding` is refused."""
    if isinstance(model, (str, os.PathLike)):
        model = keras.saving.load_model(model, compile=False)
    return model, ModelParts(model)


def source_targets(source, target, sources):
    """The file names `process_file` writes for a model with `sources` outputs: `{source}` → 0, 1, ...; checked."""
    if sources > 1 and "{source}" not in target:
        raise ValueError(
            f"{target}: the model makes {sources} sources, one file each: put {{source}} in the target's name "
            f"(e.g. out_{{source}}.wav, which becomes out_0.wav ... out_{sources - 1}.wav)."
        )
    targets = [target.replace("{source}", str(k)) for k in range(sources)]
    for path in targets:
        check_target(source, path)
    return targets


def _process_chunks(model, parts, file, write, starts, sizes, length, total, rate, overlap, progress):
    """Runs the model over the chunks of `length` starting at `starts` (padded to `sizes`), cross-fades the overlaps
    and writes the result."""
    join = Crossfade(starts, length, overlap)
    for i, start in enumerate(starts):
        wave = read_part(file, start, min(start + length, total), rate)
        write(join(_run(model, wave, sizes[i], parts)))
        if progress:
            progress.update(i + 1)


class Crossfade:
    """Joins the outputs of overlapping chunks, given in order: each call returns the samples now final.

    Example: `join = Crossfade(starts, length, overlap); for result in outputs: write(join(result))`
    """

    def __init__(self, starts, length, overlap):
        self.starts, self.length, self.overlap = starts, length, overlap
        self.fade = _fade(overlap)[:, None]  # over (samples, sources, channels)
        self.index, self.written, self.pending = 0, 0, None

    def __call__(self, result):
        """`result`: the model's output for the next chunk, cut to the chunk's samples, `(samples, sources, channels)`."""
        i, start = self.index, self.starts[self.index]
        self.index += 1
        result = result[self.written - start :]
        if self.pending is not None:
            result[: self.overlap] = self.pending + result[: self.overlap] * (1 - self.fade)
        if i < len(self.starts) - 1:
            keep = start + self.length - self.overlap - self.written
            self.pending, result = result[keep:] * self.fade, result[:keep]
            self.written += keep
        return result


def _on_sigterm():
    """Makes SIGTERM raise `Terminated` (in the main thread only: elsewhere it cannot); returns what restores the old handler."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def terminate(signum, frame):
        raise Terminated(128 + signum)

    old = signal.signal(signal.SIGTERM, terminate)
    return lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL if old is None else old)


def _run(model, wave, size, parts):
    """The model's output for `wave` `(samples, channels)`, zero-padded to `size` samples and cut back; finite.

    Returned as `(samples, sources, channels)`.
    """
    result = predict(model, np.pad(wave, ((0, size - len(wave)), (0, 0)))[None], parts)[0]
    check_finite(result)
    return result[: len(wave)]


def predict(model, batch, parts, call=None):
    """The model's output for a batch `(batch, samples, channels)`, as float32 `(batch, samples, sources, channels)`; shapes checked.

    `call`: a function that runs the model on a batch, instead of `predict_on_batch`.
    """
    batch = np.swapaxes(batch, 1, 2) if parts.channels_first else batch
    sources = parts.sources
    if call is not None:
        result = call(batch)
    elif isinstance(model, keras.Model):
        result = model.predict_on_batch(batch)
    else:
        result = model(batch)
    result = np.array(keras.ops.convert_to_numpy(result), dtype="float32")
    if sources == 1 and result.shape != batch.shape:
        raise ValueError(
            f"The model must return waveforms of the shape it gets; it maps {batch.shape} to {result.shape}."
        )
    if sources > 1 and result.shape != (len(batch), sources, *batch.shape[1:]):
        raise ValueError(
            f"The model (sources={sources}) must return (batch, {sources}, ...) waveforms, one per source, of the "
            f"shape it gets; it maps {batch.shape} to {result.shape}."
        )
    result = result[:, None] if sources == 1 else result  # (batch, sources, samples, channels) or channels_first
    result = np.swapaxes(result, 2, 3) if parts.channels_first else result
    return np.swapaxes(result, 1, 2)


def check_finite(result):
    """Refuses NaN or inf in a model's output."""
    bad = result.size - np.count_nonzero(np.isfinite(result))
    if bad:
        raise ValueError(f"The model's output holds {bad} NaN or inf samples; nothing was written.")


def _input_channels(model, channels_first=False):
    """The channel count the model takes, when it is known."""
    axis = 1 if channels_first else -1
    try:
        return model.inputs[0].shape[axis]
    except (AttributeError, IndexError, TypeError, ValueError):
        axes = getattr(getattr(model, "input_spec", None), "axes", None) or {}
        return axes.get(1) if channels_first else axes.get(2, axes.get(-1))


def _last_size(inner, length, start, total, chunked):
    """The size the last chunk (from `start` to the end, `total`) is padded to: `length` (one shape for all chunks)
    where a `SpectrogramDomain`'s STFT then has the frames of the whole file's end, else the size that has them.

    The domain pads a poorly covered length with a frame more (`STFTSettings.covered_length`), so e.g.
    with 50 % overlap a chunk of `length` can end with a frame more or less than the whole file does.
    """
    if not chunked:
        return total - start
    for domain in inner:
        for step in domain.pipeline.steps if isinstance(domain, SpectrogramDomain) else ():
            settings = step._stft if isinstance(step, STFTSplit) else None
            if settings is None:
                continue
            end = settings.covered_length(None, total) - start  # the whole file's frames, from `start` on
            if settings.frames_for(settings.covered_length(None, length)) != settings.frames_for(end):
                return end
    return length


def _inner_layers(layer, seen):
    """`layer` and every layer inside it (sub-models, pipelines, networks)."""
    if id(layer) in seen:
        return
    seen.add(id(layer))
    yield layer
    children = list(getattr(layer, "steps", None) or getattr(layer, "layers", None) or [])
    children += [getattr(layer, "pipeline", None), getattr(layer, "network", None), *getattr(layer, "_layers", [])]
    for child in children:
        if isinstance(child, keras.layers.Layer):
            yield from _inner_layers(child, seen)


def _data_format(inner):
    """The waveform layout of the model: its (first) domain's, else its STFT layers'."""
    for kind in (SpectrogramDomain, (STFTSplit, InverseSTFTSplit)):
        found = [layer.data_format for layer in inner if isinstance(layer, kind)]
        if found:
            return found[0]
    return "channels_last"


def _model_rate(inner):
    """The sample rate the model states (its domains and pipelines), or None; two different rates are refused."""
    rates = {
        layer.sample_rate
        for layer in inner
        if isinstance(layer, (SpectrogramDomain, SpectrogramPipeline)) and layer.sample_rate is not None
    }
    if len(rates) > 1:
        raise ValueError(f"The model's parts state different sample rates: {sorted(rates)} Hz.")
    return rates.pop() if rates else None


def _chunk_step(inner, rate, chunk_seconds, overlap_seconds):
    """(step, overlap, length, hop) in samples: chunks of `length` start every `step`, a multiple of every STFT `hop`.

    The overlap is rounded up to one less than a multiple of the hop, so that the last
    chunk, ending at the end of the file, is padded with fewer zeros than make a frame.
    """
    for value, name in ((chunk_seconds, "chunk_seconds"), (overlap_seconds, "overlap_seconds")):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not np.isfinite(value):
            raise ValueError(f"{name} must be a finite number of seconds; got {value!r}.")
    chunk, overlap = round(chunk_seconds * rate), round(overlap_seconds * rate)
    if chunk < 1:
        raise ValueError(f"chunk_seconds={chunk_seconds} is less than one sample at {rate} Hz.")
    if not 0 <= overlap < chunk:
        raise ValueError(
            f"overlap_seconds must be at least 0 and less than chunk_seconds; got {overlap_seconds} and {chunk_seconds}."
        )
    stfts = [layer for layer in inner if isinstance(layer, (STFTSplit, InverseSTFTSplit))]
    hop = math.lcm(1, *(layer.hop_length for layer in stfts))
    need = max((layer.n_fft + layer.hop_length for layer in stfts), default=0)
    if overlap // 4 < need:
        raise ValueError(
            f"overlap_seconds={overlap_seconds} is too short for the model's STFT: a quarter of the overlap must be "
            f"at least n_fft + hop_length = {need} samples, so overlap_seconds >= {4 * need / rate:.3g} at {rate} Hz."
        )
    overlap += -(overlap + 1) % hop
    step = (chunk - overlap) // hop * hop
    if step < 1:
        raise ValueError(
            f"chunk_seconds ({chunk_seconds}) must exceed overlap_seconds ({overlap_seconds}) by at least the STFT hop, {hop} samples."
        )
    return step, overlap, step + overlap, hop


def _fade(overlap):
    """The earlier chunk's weight over an overlap: 1 for a quarter, a linear ramp over half, 0 for a quarter."""
    quarter = overlap // 4
    ramp = overlap - 2 * quarter
    weights = np.concatenate([np.ones(quarter), 1 - (np.arange(ramp) + 0.5) / ramp, np.zeros(quarter)])
    return weights.astype("float32")[:, None]

"""`load_audio` (public as `keras_spectro.audio.load_audio`): a file, or a part of it, as the datasets
want it (padded, channels repeated, resampled), over `audio_io`'s readers; and what `AudioFileDataset`
and `MixtureDataset` share. Its own module so that `audio` (which re-exports `MixtureDataset`) and
`mixtures` do not import each other."""

import os

import keras
import numpy as np

from keras_spectro.audio_io import check_file, open_audio, read_part, resampled_length
from keras_spectro.functional.common import check_choice, non_negative_int, positive_int, sample_rate_hz
from keras_spectro.layers.padding import MODES, padding_widths


def load_audio(
    path: str | os.PathLike,
    sample_rate: int | None = None,
    channels: int | None = None,
    length: int | None = None,
    mode: str = "right",
    offset: int = 0,
    resample: bool = False,
) -> np.ndarray:
    """Reads an audio file, or a part of it, as float32 `(samples, channels)`.

    Only the samples returned are read from disk: memory grows with `length`,
    not with the file.

    Args:
        path: any file libsndfile reads (WAV, FLAC, OGG, ...).
        sample_rate: the rate the file must have, or, with `resample=True`, the
            rate to convert it to (with soxr, "HQ"; `pip install "keras_spectro[resample]"`).
        channels: the channel count wanted; mono is repeated to it.
        length: pad or cut to this many samples, as `AudioPadding(length, mode)`
            applied to the part of the file from `offset` on.
        offset: the sample where reading starts; it must lie inside the file
            (an offset at or past the end is a ValueError naming the file: a
            segment of only padding is almost always a mistake).
        resample: convert a file at another rate instead of refusing it;
            `offset` and `length` then count samples at `sample_rate`, and a
            part equals the same slice of the whole file converted, to ~1e-6 of
            its peak (measured: at most 4e-6, 44101 → 48000 Hz; about 5e-7 for
            common rates).

    Example: `wave = load_audio("long.flac", sample_rate=44100, channels=2, offset=441000, length=88200)`
    """
    check_choice(mode, MODES, "mode")
    length = None if length is None else positive_int(length, "length")
    offset = non_negative_int(offset, "offset")
    sample_rate = None if sample_rate is None else sample_rate_hz(sample_rate)  # 16000.0 is 16000; 0 is no rate
    if resample and sample_rate is None:
        raise ValueError("resample=True needs the sample_rate to convert to.")
    with open_audio(path) as file:
        check_file(file, sample_rate, channels, resample)
        rate = sample_rate or file.samplerate
        total = resampled_length(file.frames, file.samplerate, rate)  # file.frames at the file's rate
        if offset >= total:
            raise ValueError(f"{path}: offset {offset} is past the end of the file ({total} samples).")
        start, stop = offset, total if length is None else min(total, offset + length)
        if length is not None and mode == "left":
            start, stop = max(offset, total - length), total
        wave = read_part(file, start, stop, rate)
    if channels is not None and wave.shape[1] != channels:
        wave = np.repeat(wave, channels, axis=1)
    if length is not None and len(wave) < length:
        wave = np.pad(wave, (padding_widths(len(wave), length, mode), (0, 0)))
    return wave


def _refuse_pipeline_in_processes(pipeline, pydataset_kwargs):
    """A ValueError if a dataset would run `pipeline` in forked worker processes under TensorFlow or JAX (they deadlock)."""
    if pipeline is not None and pydataset_kwargs.get("use_multiprocessing") and keras.backend.backend() != "torch":
        raise ValueError(
            f"use_multiprocessing=True with a pipeline would run {keras.backend.backend()} in forked "
            "worker processes, where it deadlocks: use threads (use_multiprocessing=False), "
            "or apply the pipeline in the model or with to_tf_dataset."
        )


def _apply_to_waves(pipeline, waves, reshape=np.reshape):
    """`pipeline` applied to waveforms `(..., samples, channels)` (e.g. `(batch, K, samples, channels)`) as one batch.

    The leading axes are folded into the batch and unfolded in the images;
    `reshape` is `np.reshape` (numpy images) or `tf.reshape` (inside `tf.data`).

    Example: `images = _apply_to_waves(to_images, targets)  # (batch, K, bins, frames, image_channels)`
    """
    lead = [-1 if n is None else n for n in waves.shape[:-2]]
    images = pipeline(reshape(waves, (-1, *waves.shape[-2:])))
    if reshape is np.reshape:
        images = keras.ops.convert_to_numpy(images)
    return reshape(images, (*lead, *images.shape[1:]))

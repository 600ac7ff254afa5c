"""Audio files in, batches out: `load_audio`, `AudioFileDataset`, `MixtureDataset` and the tf.data / PyTorch adapters."""

import os

import keras
import numpy as np

from keras_spectro.corpus import process_files  # noqa: F401
from keras_spectro.files import open_audio, process_file, read_frames, read_resampled, resampled_length  # noqa: F401
from keras_spectro.layers.padding import MODES, padding_widths
from keras_spectro.mixtures import MixtureDataset  # noqa: F401


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
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}; got {mode!r}.")
    if length is not None and (not isinstance(length, (int, np.integer)) or length < 1):
        raise ValueError(f"length must be a positive integer (or None); got {length!r}.")
    if not isinstance(offset, (int, np.integer)) or offset < 0:
        raise ValueError(f"offset must be a non-negative integer (samples); got {offset!r}.")
    if resample and sample_rate is None:
        raise ValueError("resample=True needs the sample_rate to convert to.")
    with open_audio(path) as file:
        _check_file(file, sample_rate, channels, resample)
        rate = file.samplerate
        convert = sample_rate is not None and rate != sample_rate
        total = resampled_length(file.frames, rate, sample_rate) if convert else file.frames
        if offset >= total:
            raise ValueError(f"{path}: offset {offset} is past the end of the file ({total} samples).")
        start, stop = offset, total if length is None else min(total, offset + length)
        if length is not None and mode == "left":
            start, stop = max(offset, total - length), total
        wave = read_resampled(file, start, stop, sample_rate) if convert else read_frames(file, start, stop)
    if channels is not None and wave.shape[1] != channels:
        wave = np.repeat(wave, channels, axis=1)
    if length is not None and len(wave) < length:
        wave = np.pad(wave, (padding_widths(len(wave), length, mode), (0, 0)))
    return wave


def _check_file(file, sample_rate=None, channels=None, resample=False):
    """A ValueError naming an open file unless it is at `sample_rate` (or `resample`) with `channels` or one channel."""
    if sample_rate is not None and file.samplerate != sample_rate and not resample:
        raise ValueError(
            f"{file.name}: sample rate {file.samplerate} Hz, expected {sample_rate} Hz (pass resample=True to convert it)."
        )
    if channels is not None and file.channels not in (1, channels):
        raise ValueError(f"{file.name}: {file.channels} channels, expected {channels} (only mono is repeated).")


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


class AudioFileDataset(keras.utils.PyDataset):
    """Batches of audio files for `model.fit`, read one batch at a time.

    Each batch is `(batch, samples, channels)` float32 waveforms, or, with a
    `pipeline`, what the pipeline makes of them (e.g. images). With `targets`
    (a list of files paired with `files`, e.g. clean versions of noisy ones)
    each batch is an `(inputs, targets)` pair, both through the same pipeline.

    Args:
        files, targets: lists of paths. batch_size: files per batch.
        sample_rate, channels, length, mode, resample: as in `load_audio`;
            without `length`, all files of a batch must have the same length.
            `mode="random"` (needs `length`): a fresh random `length`-sample
            segment of each longer file every epoch, the same one for a file and
            its target; shorter files are padded at the end. Only the segment is read.
        pipeline: a layer applied to each batch (a `SpectrogramPipeline`).
        shuffle: new order every epoch. seed: for that order and the random segments.
        **kwargs: `workers`, `use_multiprocessing`, `max_queue_size` (PyDataset);
            worker processes (`use_multiprocessing=True`) only load files, unless
            the backend is torch: TensorFlow and JAX deadlock in forked processes.

    Example:

    ```python
    data = AudioFileDataset(noisy, targets=clean, batch_size=8, length=44100, pipeline=to_images)
    model.fit(data, epochs=10)
    segments = AudioFileDataset(long_recordings, length=44100, mode="random", seed=0)
    ```
    """

    def __init__(
        self,
        files,
        targets=None,
        batch_size=8,
        sample_rate=None,
        channels=None,
        length=None,
        mode="right",
        pipeline=None,
        shuffle=False,
        seed=None,
        resample=False,
        **kwargs,
    ):
        _refuse_pipeline_in_processes(pipeline, kwargs)
        super().__init__(**kwargs)
        self.files = [os.fspath(f) for f in files]
        self.targets = None if targets is None else [os.fspath(f) for f in targets]
        if not self.files:
            raise ValueError("AudioFileDataset needs at least one file.")
        if self.targets is not None and len(self.targets) != len(self.files):
            raise ValueError(f"{len(self.files)} files but {len(self.targets)} targets: they must pair up.")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}.")
        self.batch_size = int(batch_size)
        if mode == "random" and length is None:
            raise ValueError('mode="random" needs the segment length: pass length=.')
        self.random = mode == "random"
        self.load_options = dict(sample_rate=sample_rate, channels=channels, length=length, resample=resample)
        self.load_options["mode"] = "right" if self.random else mode
        self.pipeline = pipeline
        self.shuffle = shuffle
        self._rng = np.random.default_rng(seed)
        self._order = self._rng.permutation(len(self.files)) if shuffle else np.arange(len(self.files))
        self._frames = {}  # path -> sample count (at sample_rate)
        self._epoch_seed = int(self._rng.integers(2**63)) if self.random else None

    def __len__(self):
        return -(-len(self.files) // self.batch_size)

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} out of range: the dataset has {len(self)} batches.")
        picked = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        offsets = [self._offset(i) for i in picked]
        inputs = self._read([self.files[i] for i in picked], offsets)
        if self.targets is None:
            return self._batch(inputs)
        targets = self._read([self.targets[i] for i in picked], offsets)
        for i, wave, target in zip(picked, inputs, targets):
            if wave.shape != target.shape:
                raise ValueError(
                    f"{self.files[i]} ({wave.shape[0]} samples, {wave.shape[1]} channels) and its target {self.targets[i]} "
                    f"({target.shape[0]} samples, {target.shape[1]} channels) differ; pass length= and channels=, or pair other files."
                )
        return self._batch(inputs), self._batch(targets)

    def _offset(self, index):
        """Where file `index` is read from this epoch: random in mode "random", else 0."""
        if not self.random:
            return 0
        paths = [self.files[index]] + ([] if self.targets is None else [self.targets[index]])
        spare = max(0, min(self._sample_count(p) for p in paths) - self.load_options["length"])
        return int(np.random.default_rng([self._epoch_seed, index]).integers(spare + 1))

    def _sample_count(self, path):
        if path not in self._frames:
            with open_audio(path) as file:
                rate, wanted = file.samplerate, self.load_options["sample_rate"]
                convert = self.load_options["resample"] and wanted not in (None, rate)
                self._frames[path] = resampled_length(file.frames, rate, wanted) if convert else file.frames
        return self._frames[path]

    def _read(self, paths, offsets):
        waves = [load_audio(p, offset=o, **self.load_options) for p, o in zip(paths, offsets)]
        if len({w.shape for w in waves}) > 1:
            shapes = ", ".join(f"{p}: {w.shape}" for p, w in zip(paths, waves))
            raise ValueError(f"Files of one batch differ in shape ({shapes}); pass length= and channels=.")
        return waves

    def _batch(self, waves):
        batch = np.stack(waves)
        return batch if self.pipeline is None else _apply_to_waves(self.pipeline, batch)

    def on_epoch_end(self):
        if self.shuffle:
            self._order = self._rng.permutation(len(self.files))
        if self.random:
            self._epoch_seed = int(self._rng.integers(2**63))


def to_tf_dataset(dataset, pipeline=None):
    """A `tf.data.Dataset` of the batches of `dataset`, `pipeline` applied inside `map`.

    It reads files in Python, one batch at a time, and runs `pipeline` in the
    TensorFlow graph whatever the Keras backend (on each source of a
    `(batch, K, samples, channels)` target, as `MixtureDataset` gives them).

    Example: `model.fit(to_tf_dataset(AudioFileDataset(files, length=44100), to_images))`
    """
    import tensorflow as tf

    def batches():
        for index in range(len(dataset)):
            yield dataset[index]
        dataset.on_epoch_end()

    first = dataset[0]
    spec = tf.nest.map_structure(lambda x: tf.TensorSpec((None,) + x.shape[1:], tf.float32), first)
    data = tf.data.Dataset.from_generator(batches, output_signature=spec)
    data = data.apply(tf.data.experimental.assert_cardinality(len(dataset)))  # fit() knows the epoch's length
    if pipeline is not None:
        images = lambda x: _apply_to_waves(pipeline, x, tf.reshape)  # noqa: E731  (K sources: each through the pipeline)
        data = data.map(lambda *xs: tuple(images(x) for x in xs) if len(xs) > 1 else images(xs[0]))
    return data.prefetch(tf.data.AUTOTUNE)


class TorchBatches:
    """The batches of `dataset` as torch tensors on `device`, one batch at a time.

    Index it like a dataset (`batches[i]`, `len(batches)`; use it with
    `torch.utils.data.DataLoader(batches, batch_size=None)`), or iterate it: one
    pass over the data, or endlessly with `repeat=True` (new order each pass
    when the dataset shuffles). Only one batch is on the device at a time.

    Example:

    ```python
    for noisy, clean in TorchBatches(AudioFileDataset(noisy_files, clean_files), device="cuda"):
        loss = torch.nn.functional.mse_loss(net(noisy), clean)
    ```
    """

    def __init__(self, dataset, device="cpu", repeat=False):
        import torch

        self.dataset, self.device, self.repeat = dataset, torch.device(device), repeat

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        import torch

        batch = self.dataset[index]
        move = lambda x: torch.as_tensor(np.asarray(x)).to(self.device)  # noqa: E731
        return tuple(move(x) for x in batch) if isinstance(batch, tuple) else move(batch)

    def __iter__(self):
        while True:
            for index in range(len(self)):
                yield self[index]
            self.dataset.on_epoch_end()
            if not self.repeat:
                return

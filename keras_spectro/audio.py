"""Audio files in, batches out: `load_audio`, `AudioFileDataset`, `MixtureDataset` and the tf.data / PyTorch adapters."""

import os

import keras
import numpy as np

from keras_spectro.audio_io import open_audio, resampled_length
from keras_spectro.corpus import process_files
from keras_spectro.files import Terminated, process_file
from keras_spectro.functional.common import positive_int
from keras_spectro.loading import _apply_to_waves, _refuse_pipeline_in_processes, load_audio
from keras_spectro.mixtures import MixtureDataset

__all__ = [
    "load_audio",
    "AudioFileDataset",
    "MixtureDataset",
    "to_tf_dataset",
    "TorchBatches",
    "process_file",
    "process_files",
    "Terminated",
]


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
        self.batch_size = positive_int(batch_size, "batch_size")
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
                rate = (
                    self.load_options["sample_rate"] or file.samplerate
                )  # another rate: converted, or refused on reading
                self._frames[path] = resampled_length(file.frames, file.samplerate, rate)
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

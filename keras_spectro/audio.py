"""Audio files in, batches out: `load_audio`, `AudioFileDataset` and its tf.data / PyTorch adapters."""

import os

import keras
import numpy as np
import soundfile

from keras_spectro.layers.padding import MODES, padding_widths


def load_audio(path, sample_rate=None, channels=None, length=None, mode="right"):
    """Reads an audio file as float32 `(samples, channels)`.

    Args:
        path: any file libsndfile reads (WAV, FLAC, OGG, ...).
        sample_rate: the rate the file must have (nothing is resampled).
        channels: the channel count wanted; mono is repeated to it.
        length: pad or cut to this many samples, as `AudioPadding(length, mode)`.

    Example: `wave = load_audio("voice.wav", sample_rate=44100, channels=2, length=88200)`
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}; got {mode!r}.")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such audio file.")
    try:
        wave, rate = soundfile.read(path, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as error:
        raise ValueError(f"{path}: not an audio file that can be read ({error}).") from None
    if wave.shape[0] == 0:
        raise ValueError(f"{path}: the file holds no samples.")
    if sample_rate is not None and rate != sample_rate:
        raise ValueError(f"{path}: sample rate {rate} Hz, expected {sample_rate} Hz (keras_spectro does not resample).")
    if channels is not None and wave.shape[1] != channels:
        if wave.shape[1] != 1:
            raise ValueError(f"{path}: {wave.shape[1]} channels, expected {channels} (only mono is repeated).")
        wave = np.repeat(wave, channels, axis=1)
    if length is not None:
        wave = np.pad(wave, (padding_widths(len(wave), length, mode), (0, 0)))
        wave = wave[-length:] if mode == "left" else wave[:length]
    return wave


class AudioFileDataset(keras.utils.PyDataset):
    """Batches of audio files for `model.fit`, read one batch at a time.

    Each batch is `(batch, samples, channels)` float32 waveforms, or, with a
    `pipeline`, what the pipeline makes of them (e.g. images). With `targets`
    (a list of files paired with `files`, e.g. clean versions of noisy ones)
    each batch is an `(inputs, targets)` pair, both through the same pipeline.

    Args:
        files, targets: lists of paths. batch_size: files per batch.
        sample_rate, channels, length, mode: as in `load_audio`; without
            `length`, all files of a batch must have the same length.
        pipeline: a layer applied to each batch (a `SpectrogramPipeline`).
        shuffle: new order every epoch. seed: for that order.
        **kwargs: `workers`, `use_multiprocessing`, `max_queue_size` (PyDataset);
            worker processes (`use_multiprocessing=True`) only load files, unless
            the backend is torch: TensorFlow and JAX deadlock in forked processes.

    Example:

    ```python
    data = AudioFileDataset(noisy, targets=clean, batch_size=8, length=44100, pipeline=to_images)
    model.fit(data, epochs=10)
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
        **kwargs,
    ):
        if pipeline is not None and kwargs.get("use_multiprocessing") and keras.backend.backend() != "torch":
            raise ValueError(
                f"use_multiprocessing=True with a pipeline would run {keras.backend.backend()} in forked "
                "worker processes, where it deadlocks: use threads (use_multiprocessing=False), "
                "or apply the pipeline in the model or with to_tf_dataset."
            )
        super().__init__(**kwargs)
        self.files = [os.fspath(f) for f in files]
        self.targets = None if targets is None else [os.fspath(f) for f in targets]
        if not self.files:
            raise ValueError("AudioFileDataset needs at least one file.")
        if self.targets is not None and len(self.targets) != len(self.files):
            raise ValueError(f"{len(self.files)} files but {len(self.targets)} targets: they must pair up.")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}.")
        self.batch_size = batch_size
        self.load_options = dict(sample_rate=sample_rate, channels=channels, length=length, mode=mode)
        self.pipeline = pipeline
        self.shuffle = shuffle
        self._rng = np.random.default_rng(seed)
        self._order = self._rng.permutation(len(self.files)) if shuffle else np.arange(len(self.files))

    def __len__(self):
        return -(-len(self.files) // self.batch_size)

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} out of range: the dataset has {len(self)} batches.")
        picked = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        inputs = self._load([self.files[i] for i in picked])
        if self.targets is None:
            return inputs
        return inputs, self._load([self.targets[i] for i in picked])

    def _load(self, paths):
        waves = [load_audio(p, **self.load_options) for p in paths]
        if len({w.shape for w in waves}) > 1:
            shapes = ", ".join(f"{p}: {w.shape}" for p, w in zip(paths, waves))
            raise ValueError(f"Files of one batch differ in shape ({shapes}); pass length= and channels=.")
        batch = np.stack(waves)
        if self.pipeline is None:
            return batch
        return keras.ops.convert_to_numpy(self.pipeline(batch))

    def on_epoch_end(self):
        if self.shuffle:
            self._order = self._rng.permutation(len(self.files))


def to_tf_dataset(dataset, pipeline=None):
    """A `tf.data.Dataset` of the batches of `dataset`, `pipeline` applied inside `map`.

    It reads files in Python, one batch at a time, and runs `pipeline` in the
    TensorFlow graph whatever the Keras backend.

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
    if pipeline is not None:
        data = data.map(lambda *xs: tuple(pipeline(x) for x in xs) if len(xs) > 1 else pipeline(xs[0]))
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

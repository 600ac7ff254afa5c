"""Training pairs made on the fly: `MixtureDataset` (also in `keras_spectro.audio`)."""

import itertools
import math
import os

import keras
import numpy as np

from keras_spectro import loading
from keras_spectro.audio_io import check_file, open_audio, resampled_length
from keras_spectro.functional.common import non_negative_int, positive_int, standardize_data_format

SILENCE = 1e-10  # a segment with less energy (sum of squares, all channels) is drawn again
REDRAWS = 10  # how often a silent segment is drawn again before the file is refused
LIMIT_DB = 100.0  # SNRs and gains beyond ±100 dB: one part is lost in the float32 rounding of the other


def _db_range(value, name):
    """`(low, high)` in dB from a pair or one number, within ±100 dB; a ValueError naming `name` otherwise."""
    pair = (value, value) if np.ndim(value) == 0 else value
    try:
        if any(isinstance(v, (bool, np.bool_, str)) for v in pair):
            raise TypeError
        low, high = (float(v) for v in pair)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a (low, high) pair of dB values or one number; got {value!r}.") from None
    if not (math.isfinite(low) and math.isfinite(high) and low <= high):
        raise ValueError(f"{name} must be finite with low <= high; got {value!r}.")
    if max(-low, high) > LIMIT_DB:
        raise ValueError(
            f"{name} must lie within ±{LIMIT_DB:g} dB; got {value!r}: beyond, one part of a float32 "
            "mixture is lost in the rounding of the other (or overflows)."
        )
    return low, high


def _nonempty(files, name):
    """`files` as a list, or a ValueError naming `name` unless it is a non-empty list (not one path)."""
    if isinstance(files, (str, os.PathLike)) or not hasattr(files, "__len__"):
        raise ValueError(f"{name} must be a list of audio files; got {files!r}.")
    if len(files) == 0:
        raise ValueError(f"{name} is empty: it needs at least one audio file.")
    return list(files)


def _paths(files, name):
    files = _nonempty(files, name)
    if not all(isinstance(f, (str, os.PathLike)) for f in files):
        raise ValueError(f"{name} must be a list of audio files (paths); got {files!r}.")
    return [os.fspath(f) for f in files]


class MixtureDataset(keras.utils.PyDataset):
    """Mixtures of random segments of clean recordings (and noise), drawn afresh each epoch.

    Each item draws a random `length`-sample segment of a random file of each
    kind of source (files shorter than `length` are padded at the end with
    zeros), scales it by a gain drawn uniformly in `gain_db`, and, with
    `noises`, adds a random noise segment scaled so that the mixture's SNR (the
    sum of the sources against the noise, over the whole segment and all
    channels) is drawn uniformly in `snr_db`. A batch is `(mixture, target)`:
    the mixture `(batch, length, channels)` equals the sum of the target's
    sources plus the scaled noise, to float32 rounding (float32, not clipped);
    the target is `(batch, length, channels)` for one kind of source, or
    `(batch, K, length, channels)` for K kinds, as `SpectrogramDomain(sources=K)`
    gives them. With `keras.config.image_data_format() == "channels_first"`
    (when the dataset is made), waveforms are `(batch, channels, length)` and
    targets `(batch, K, channels, length)`.

    A batch depends only on `seed`, the epoch (`on_epoch_end` starts the next)
    and its index: the same with any `workers` or `use_multiprocessing`, in any
    order, on every backend. `draws(index)` tells which file segments, gains and
    SNRs batch `index` of the current epoch holds, so every item can be rebuilt.

    Args:
        sources: a list of files (one kind of source: the target is the clean
            source), or a list of K lists of files (K kinds: each item draws one
            file of each kind; e.g. `[voices, music]`).
        noises: a list of noise files, or None (the mixture is the sum of the sources).
        length: the segment length in samples (at `sample_rate`).
        batch_size: items per batch (default 8).
        batches: batches per epoch (default 100).
        snr_db: `(low, high)`: the range of SNRs in dB (one number: always that
            SNR; default (0, 20)), within ±100 dB. Used only with `noises`.
        gain_db: `(low, high)`: the range of gains in dB, drawn for each source
            (default None: no gain), within ±100 dB.
        sample_rate: the rate of every file; None takes the first source file's
            rate. Files at another rate are refused when the dataset is made,
            naming the file, unless `resample=True` (converted with soxr).
        channels: the channel count; None takes the first source file's count.
            Mono files are repeated to it; other counts are refused when the
            dataset is made.
        resample: convert files at another rate instead of refusing them.
        seed: a non-negative integer; None draws one at random (once).
        pipeline: a layer applied to each batch (a `SpectrogramPipeline`): to the
            mixture and to each of the target's sources.
        **pydataset_kwargs: `workers`, `use_multiprocessing`, `max_queue_size`.
            Worker processes (`use_multiprocessing=True`) with a `pipeline` are
            refused unless the backend is torch (TensorFlow and JAX deadlock in
            forked processes).

    A silent segment (energy below 1e-10) is drawn again, up to 10 times; then a
    ValueError names the file; a segment with NaN or inf is a ValueError naming
    it. Every file's header is read when the dataset is made (about 0.1 ms a
    file), so a missing, unreadable or wrong file fails before training; the
    samples are read in part (only the segments drawn).

    Example:

    ```python
    data = MixtureDataset(clean_files, noise_files, length=16000, snr_db=(-5, 10), seed=0)
    model.fit(data, epochs=10)  # a SpectrogramDomain model: noisy → clean
    data.draws(0)[0]  # {"sources": [("a.flac", 5120)], "gains_db": None, "noise": ("n.wav", 800), "snr_db": 3.2}
    separation = MixtureDataset([voices, music], length=16000, gain_db=(-5, 5))  # targets (batch, 2, 16000, channels)
    ```
    """

    def __init__(
        self,
        sources,
        noises=None,
        *,
        length,
        batch_size=8,
        batches=100,
        snr_db=(0.0, 20.0),
        gain_db=None,
        sample_rate=None,
        channels=None,
        resample=False,
        seed=None,
        pipeline=None,
        **pydataset_kwargs,
    ):
        loading._refuse_pipeline_in_processes(pipeline, pydataset_kwargs)
        super().__init__(**pydataset_kwargs)
        sources = _nonempty(sources, "sources")
        paths = [isinstance(s, (str, os.PathLike)) for s in sources]
        if any(paths) and not all(paths):
            raise ValueError("sources must be a list of files or a list of lists of files, not a mix of both.")
        self.kinds = None if all(paths) else len(sources)  # None: one kind (a flat list)
        self.sources = (
            [_paths(sources, "sources")]
            if all(paths)
            else [_paths(kind, f"sources[{k}]") for k, kind in enumerate(sources)]
        )
        self.noises = None if noises is None else _paths(noises, "noises")
        self.length = positive_int(length, "length")
        self.batch_size = positive_int(batch_size, "batch_size")
        self.batches = positive_int(batches, "batches")
        self.snr_db = _db_range(snr_db, "snr_db")
        self.gain_db = None if gain_db is None else _db_range(gain_db, "gain_db")
        self.seed = int(np.random.SeedSequence().entropy) if seed is None else non_negative_int(seed, "seed")
        self.epoch = 0
        self.data_format = standardize_data_format(None)
        self.pipeline = pipeline
        self.resample = resample
        with open_audio(self.sources[0][0]) as first:
            self.sample_rate = first.samplerate if sample_rate is None else positive_int(sample_rate, "sample_rate")
            self.channels = first.channels if channels is None else positive_int(channels, "channels")
        every_file = itertools.chain(*self.sources, self.noises or [])
        self._frames = {path: self._sample_count(path) for path in every_file}  # path -> samples at sample_rate

    def __len__(self):
        return self.batches

    def __getitem__(self, index):
        _, targets, noise = self._items(index, self.epoch)
        mixture = targets.sum(axis=1, dtype="float64")
        if noise is not None:
            mixture += noise
        target = targets[:, 0] if self.kinds is None else targets
        return self._layout(mixture.astype("float32")), self._layout(target)

    def draws(self, index, epoch=None):
        """What batch `index` of this epoch (or of `epoch`, an earlier or later one) is made of: one dict per item.

        `{"sources": [(path, offset), ...], "gains_db": [...] or None, "noise":
        (path, offset) or None, "snr_db": float or None}`, offsets in samples at
        `sample_rate`; one source per kind. Rebuild an item with `load_audio(path,
        sample_rate, channels, length=length, offset=offset)`: a target is that
        segment times `10 ** (gain_db / 20)`, the noise its segment scaled to
        `snr_db` against the sum of the sources. `model.fit` calls `on_epoch_end`
        once before its first epoch: fit's epoch e (from 0) is `epoch=e + 1`.
        """
        return self._items(index, self.epoch if epoch is None else non_negative_int(epoch, "epoch"))[0]

    def on_epoch_end(self):
        self.epoch += 1

    def _items(self, index, epoch):
        """Draws and reads batch `index` of `epoch`: (draws, float32 targets (batch, kinds, length, channels), float64 noise or None)."""
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} out of range: the dataset has {len(self)} batches.")
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, epoch, int(index)]))
        draws, targets, noises = [], [], []
        for _ in range(self.batch_size):
            picked, segments = zip(*(self._segment(rng, files) for files in self.sources))
            gains = None if self.gain_db is None else [float(rng.uniform(*self.gain_db)) for _ in self.sources]
            scaled = (
                np.stack(segments) if gains is None else np.stack([s * 10 ** (g / 20) for s, g in zip(segments, gains)])
            )
            targets.append(scaled.astype("float32"))
            item = {"sources": list(picked), "gains_db": gains, "noise": None, "snr_db": None}
            if self.noises is not None:
                item["noise"], noise = self._segment(rng, self.noises)
                item["snr_db"] = float(rng.uniform(*self.snr_db))
                noises.append(self._scaled_noise(targets[-1], noise, item["snr_db"], picked))
            draws.append(item)
        return draws, np.stack(targets), np.stack(noises) if noises else None

    def _segment(self, rng, files):
        """A random `length`-sample segment of a random file of `files`, drawn again while silent: ((path, offset), float64 wave)."""
        silent = []
        for _ in range(1 + REDRAWS):
            path = files[int(rng.integers(len(files)))]
            offset = int(rng.integers(max(0, self._frames[path] - self.length) + 1))
            wave = self._read(path, offset)
            if not np.all(np.isfinite(wave)):
                raise ValueError(
                    f"{path}: NaN or inf in samples {offset} to {offset + self.length} (at {self.sample_rate} Hz); "
                    "fix or remove the file."
                )
            if np.sum(wave**2) >= SILENCE:
                return (path, offset), wave
            silent.append(path)
        raise ValueError(
            f"{', '.join(sorted(set(silent)))}: silent segments (energy below {SILENCE:g}) in {1 + REDRAWS} draws "
            "in a row; remove silent files or cut their silence."
        )

    def _read(self, path, offset):
        wave = loading.load_audio(
            path, self.sample_rate, self.channels, length=self.length, offset=offset, resample=self.resample
        )
        return wave.astype("float64")

    def _sample_count(self, path):
        """The file's sample count at `sample_rate`, after checking its header: a file that cannot be drawn is refused now."""
        with open_audio(path) as file:
            check_file(file, self.sample_rate, self.channels, self.resample)
            count = resampled_length(file.frames, file.samplerate, self.sample_rate)  # file.frames at the same rate
            if count < 1:
                raise ValueError(
                    f"{path}: {file.frames} samples at {file.samplerate} Hz make none at {self.sample_rate} Hz."
                )
        return count

    def _scaled_noise(self, targets, noise, snr_db, picked):
        """`noise` scaled so that the sum of `targets` (float32, kinds first) is `snr_db` above it."""
        signal = np.sum(targets.sum(axis=0, dtype="float64") ** 2)
        if signal < SILENCE:
            raise ValueError(f"the sources {[p for p, _ in picked]} sum to silence here: no SNR can be set.")
        return noise * np.sqrt(signal / (np.sum(noise**2) * 10 ** (snr_db / 10)))

    def _layout(self, waves):
        """(..., length, channels) → the data format's layout, through the pipeline when there is one."""
        if self.data_format == "channels_first":
            waves = np.swapaxes(waves, -1, -2)
        waves = np.ascontiguousarray(waves, dtype="float32")
        return waves if self.pipeline is None else loading._apply_to_waves(self.pipeline, waves)

"""The STFT's arithmetic: windows, overlap-add, window-square sums and the two DFTs (FFT, matrix), for any frame count."""

import numpy as np

from keras_spectro.functional import torch_paths
from keras_spectro.functional.constants import DeviceConstants

# A sample whose window-square sum is below this share of the window's peak
# cannot be brought back exactly in float32; below the second, nothing is divided.
MIN_WINDOW_SUM = 1e-3
NEGLIGIBLE_WINDOW_SUM = 1e-10
CACHED_FRAME_COUNTS = 16
# Up to this many hops per segment, one pad-and-add per hop is faster (XLA: 79 vs 122 ms for 4);
# beyond it, the skewed sum, whose op count does not grow.
LOOPED_BLOCKS = 8


# The named windows, periodic, as functions of n / win_length.
WINDOWS = {
    "hann": lambda n: 0.5 - 0.5 * np.cos(2 * np.pi * n),
    "hamming": lambda n: 0.54 - 0.46 * np.cos(2 * np.pi * n),
    "blackman": lambda n: 0.42 - 0.5 * np.cos(2 * np.pi * n) + 0.08 * np.cos(4 * np.pi * n),
}


def make_window(window, win_length, n_fft):
    """The periodic analysis window (as librosa/scipy), centred in `n_fft` samples.

    Example: `make_window("hann", 1024, 2048)` → 2048 values, zeros outside the middle 1024.
    """
    if window is None:
        values = np.ones(win_length)
    elif isinstance(window, str):
        if window not in WINDOWS:
            raise ValueError(f"window must be one of {sorted(WINDOWS)}, None or an array; got {window!r}.")
        values = WINDOWS[window](np.arange(win_length) / win_length)
    else:
        values = np.asarray(window, dtype="float64")
        if values.shape != (win_length,):
            raise ValueError(f"An explicit window must have win_length={win_length} values; got shape {values.shape}.")
        if not np.all(np.isfinite(values)) or not np.any(values):
            raise ValueError("The explicit window holds NaN or inf, or only zeros.")
    left = (n_fft - win_length) // 2
    return np.pad(values, (left, n_fft - win_length - left)).astype("float32")


def overlap_add(np_, segments, count, hop):
    """Sums `(n, ..., count, size)` segments placed `hop` apart → `(n, ..., (count - 1) * hop + size)`.

    `np_` is a numpy-like module (numpy or a Keras backend's); `count` may be a
    tensor known only at run time; the axes between the first and the frames
    (channels) must be known. Only transposes, pads, reshapes, slices and one
    sum, however many hops a segment spans (up to `LOOPED_BLOCKS` hops, one
    pad-and-add per hop, faster there): each segment is cut into `blocks`
    hop-long pieces, piece k of frame t belongs at hop t + k, and padding the
    frame axis by `blocks` before flattening shifts row k by k. The first axis
    is never merged with another (a symbolic batch exports to ONNX).

    Example: `overlap_add(np, np.ones((1, 3, 4)), 3, 2)` → `[[1, 1, 2, 2, 2, 2, 1, 1]]`.
    """
    size = int(segments.shape[-1])  # n_fft (or a hop): always known; an int keeps `blocks` one (torch ONNX traces)
    first, rest = _static(segments.shape[0]), tuple(int(d) for d in segments.shape[1:-2])
    lead = len(rest) + 1  # the axes before the frames
    keep = ((0, 0),) * lead
    blocks = -(-size // hop)
    end = (count - 1) * hop + size

    def shaped(x, *tail):
        return np_.reshape(x, (first, *rest, *tail))

    if blocks * hop != size:
        segments = np_.pad(segments, keep + ((0, 0), (0, blocks * hop - size)))
    if blocks == 1:
        return shaped(segments, count * hop)[..., :end]
    segments = shaped(segments, count, blocks, hop)
    if blocks <= LOOPED_BLOCKS:
        # split, not segments[..., k, :]: TensorFlow's gradient of an element slice is 4x slower
        pieces = np_.split(segments, blocks, axis=-2)  # each (n, ..., count, 1, hop)
        shifted = [np_.pad(p, keep + ((k, blocks - 1 - k), (0, 0), (0, 0))) for k, p in enumerate(pieces)]
        total = shifted[0]
        for part in shifted[1:]:
            total = total + part
        return shaped(total, (count + blocks - 1) * hop)[..., :end]
    pieces = np_.transpose(segments, (*range(lead), lead + 1, lead, lead + 2))  # (n, ..., blocks, count, hop)
    pieces = shaped(np_.pad(pieces, keep + ((0, 0), (0, blocks), (0, 0))), blocks * (count + blocks) * hop)
    skewed = shaped(pieces[..., : blocks * (count + blocks - 1) * hop], blocks, count + blocks - 1, hop)
    return shaped(np_.sum(skewed, axis=lead), (count + blocks - 1) * hop)[..., :end]


def _static(size):
    """A size known when the graph is made, else -1 (reshapes keep the batch axis apart as -1)."""
    return int(size) if isinstance(size, (int, np.integer)) else -1


def safe_reciprocal(np_, sums, threshold):
    """`1 / sums` where a window sum exceeds `threshold`, else 1: what overlap-add divides by.

    Example: `safe_reciprocal(np, np.array([0.0, 2.0]), 1e-8)` → `[1.0, 0.5]`.
    """
    return np_.where(sums > threshold, 1 / np_.maximum(sums, 1e-30), 1.0)


class WindowSums:
    """The summed squared window at each sample of `frames` frames, and its safe reciprocal.

    For a frame count known when the graph is made (eager, JAX, torch, static
    TensorFlow shapes) both come from a small numpy cache; for one known only
    at run time they are computed in the graph.

    Example: `WindowSums(window, hop).reciprocal(np_, 173)` → 44288 float32 values.
    """

    def __init__(self, window, hop):
        self.window_sq = window.astype("float64") ** 2
        self.hop = hop
        self.threshold = NEGLIGIBLE_WINDOW_SUM * self.window_sq.max()
        self._cache = {}
        self.constants = DeviceConstants()

    def sums(self, frames):
        """numpy float64 sums for a known frame count."""
        if frames not in self._cache:
            if len(self._cache) >= CACHED_FRAME_COUNTS:
                self._cache.clear()
            stacked = np.broadcast_to(self.window_sq, (1, frames, self.window_sq.size))
            sums = overlap_add(np, stacked, frames, self.hop)[0]
            self._cache[frames] = (sums, safe_reciprocal(np, sums, self.threshold).astype("float32"))
        return self._cache[frames][0]

    def reciprocal(self, np_, frames):
        """1 / sums where the sum is not negligible, else 1 (float32), for any frame count."""
        if isinstance(frames, (int, np.integer)):
            self.sums(int(frames))
            return self._cache[int(frames)][1]
        return self._runtime_reciprocal(np_, frames)

    def reciprocal_like(self, b, frames, like):
        """`reciprocal` for a known frame count as a tensor on `like`'s device, made once (eager calls);
        numpy inside a trace, a graph tensor for a run-time count."""
        if not isinstance(frames, (int, np.integer)):
            return self._runtime_reciprocal(b.numpy, frames)
        return self.constants.get(b, ("reciprocal", int(frames)), lambda: self.reciprocal(np, int(frames)), like)

    def _runtime_reciprocal(self, np_, frames):
        window_sq = self.window_sq.astype("float32")
        stacked = np_.broadcast_to(window_sq, (1, frames, window_sq.size))
        return safe_reciprocal(np_, overlap_add(np_, stacked, frames, self.hop)[0], self.threshold)

    def steady(self):
        """The sums over one hop far from both ends."""
        size = self.window_sq.size
        frames = -(-size // self.hop) * 2 + 1
        middle = (frames // 2) * self.hop
        return self.sums(frames)[middle : middle + self.hop]


class FFTTransform:
    """The framed DFT and its windowed inverse with the backend's FFT ops (`dft="fft"`)."""

    def __init__(self, window, n_fft, hop):
        self.window, self.n_fft, self.hop = window, n_fft, hop
        self.constants = DeviceConstants()

    def window_like(self, b, like):
        """The window as a tensor on `like`'s device, made once (numpy inside a trace)."""
        return self.constants.get(b, "window", lambda: self.window, like)

    def stft(self, b, x):
        """`(batch, channels, samples)` (already padded) → real, imag `(batch, channels, frames, bins)`."""
        _refuse_onnx_export(b)
        return b.math.stft(x, self.n_fft, self.hop, self.n_fft, window=self.window_like(b, x), center=False)

    def windowed_irfft(self, b, real, imag):
        """real, imag `(..., frames, bins)` → windowed segments `(..., frames, n_fft)`."""
        _refuse_onnx_export(b)
        return b.numpy.multiply(b.math.irfft((real, imag), self.n_fft), self.window_like(b, real))


def _refuse_onnx_export(b):
    """ONNX has no inverse FFT and torch exports no complex STFT: say what works instead."""
    if b.name == "torch":
        torch_paths.refuse_onnx_export()


class MatmulTransform:
    """The same as `FFTTransform` with real matrix products only (`dft="matmul"`).

    Frames are cut with reshapes, pads and slices, and the window is folded into
    cos/sin matrices built once, so the layers run wherever a Dense layer runs
    (TFLite built-ins, ONNX). Example: `MatmulTransform(window, 512, 128).stft(backend, x)`.
    """

    def __init__(self, window, n_fft, hop):
        self.n_fft, self.hop = n_fft, hop
        self.blocks = -(-n_fft // hop)
        bins = n_fft // 2 + 1
        n, k = np.arange(n_fft)[:, None], np.arange(bins)[None, :]
        angle = 2 * np.pi * ((n * k) % n_fft) / n_fft
        weights = window.astype("float64")[:, None]
        forward = np.concatenate([weights * np.cos(angle), -weights * np.sin(angle)], axis=1)
        self.forward = np.pad(forward, ((0, self.blocks * hop - n_fft), (0, 0))).astype(
            "float32"
        )  # (blocks*hop, 2*bins)
        scale = np.full(bins, 2.0)
        scale[0] = 1.0
        if n_fft % 2 == 0:
            scale[-1] = 1.0
        scale = scale[:, None] / n_fft
        angle = angle.T
        inverse = np.concatenate([scale * np.cos(angle), -scale * np.sin(angle)], axis=0)  # (2*bins, n_fft)
        self.inverse = (inverse * window.astype("float64")[None, :]).astype("float32")
        self.constants = DeviceConstants()

    def stft(self, b, x):
        np_ = b.numpy
        batch, channels, samples = b.core.shape(x)
        frames = 1 + (samples - self.n_fft) // self.hop
        used = (frames + self.blocks - 1) * self.hop  # whole hops that the frames' blocks cover
        x = np_.pad(x, ((0, 0), (0, 0), (0, self.blocks * self.hop)))[..., :used]
        x = np_.reshape(x, (_static(batch), channels, frames + self.blocks - 1, self.hop))  # the batch axis kept apart
        framed = np_.concatenate([x[:, :, k : k + frames, :] for k in range(self.blocks)], axis=-1)
        forward = self.constants.get(b, "forward", lambda: self.forward, x)
        spectrum = np_.matmul(framed, forward)  # (batch, channels, frames, 2*bins)
        bins = self.n_fft // 2 + 1
        return spectrum[..., :bins], spectrum[..., bins:]

    def windowed_irfft(self, b, real, imag):
        inverse = self.constants.get(b, "inverse", lambda: self.inverse, real)
        return b.numpy.matmul(b.numpy.concatenate([real, imag], axis=-1), inverse)


TRANSFORMS = {"fft": FFTTransform, "matmul": MatmulTransform}

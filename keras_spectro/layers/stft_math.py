"""The STFT's arithmetic: windows, overlap-add and window-square sums, for any frame count."""

import numpy as np

# A sample whose window-square sum is below this share of the window's peak
# cannot be brought back exactly in float32; below the second, nothing is divided.
MIN_WINDOW_SUM = 1e-3
NEGLIGIBLE_WINDOW_SUM = 1e-10
CACHED_FRAME_COUNTS = 16


def make_window(window, win_length, n_fft):
    """The periodic analysis window (as librosa/scipy), centred in `n_fft` samples.

    Example: `make_window("hann", 1024, 2048)` → 2048 values, zeros outside the middle 1024.
    """
    n = np.arange(win_length) / win_length
    formulas = {
        "hann": lambda: 0.5 - 0.5 * np.cos(2 * np.pi * n),
        "hamming": lambda: 0.54 - 0.46 * np.cos(2 * np.pi * n),
        "blackman": lambda: 0.42 - 0.5 * np.cos(2 * np.pi * n) + 0.08 * np.cos(4 * np.pi * n),
    }
    if window is None:
        values = np.ones(win_length)
    elif isinstance(window, str):
        if window not in formulas:
            raise ValueError(f"window must be one of {sorted(formulas)}, None or an array; got {window!r}.")
        values = formulas[window]()
    else:
        values = np.asarray(window, dtype="float64")
        if values.shape != (win_length,):
            raise ValueError(f"An explicit window must have win_length={win_length} values; got shape {values.shape}.")
        if not np.all(np.isfinite(values)) or not np.any(values):
            raise ValueError("The explicit window holds NaN or inf, or only zeros.")
    left = (n_fft - win_length) // 2
    return np.pad(values, (left, n_fft - win_length - left)).astype("float32")


def overlap_add(np_, segments, count, hop):
    """Sums `(n, count, size)` segments placed `hop` apart → `(n, (count - 1) * hop + size)`.

    `np_` is a numpy-like module (numpy or a Keras backend's); `count` may be a
    tensor known only at run time. Only pads, reshapes, slices and adds.

    Example: `overlap_add(np, np.ones((1, 3, 4)), 3, 2)` → `[[1, 1, 2, 2, 2, 2, 1, 1]]`.
    """
    size = segments.shape[-1]
    blocks = -(-size // hop)
    if blocks * hop != size:
        segments = np_.pad(segments, ((0, 0), (0, 0), (0, blocks * hop - size)))
    segments = np_.reshape(segments, (-1, count, blocks, hop))
    total = None
    for k in range(blocks):
        shifted = np_.pad(segments[:, :, k, :], ((0, 0), (k, blocks - 1 - k), (0, 0)))
        total = shifted if total is None else total + shifted
    return np_.reshape(total, (-1, (count + blocks - 1) * hop))[:, : (count - 1) * hop + size]


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

    def sums(self, frames):
        """numpy float64 sums for a known frame count."""
        if frames not in self._cache:
            if len(self._cache) >= CACHED_FRAME_COUNTS:
                self._cache.clear()
            stacked = np.broadcast_to(self.window_sq, (1, frames, self.window_sq.size))
            sums = overlap_add(np, stacked, frames, self.hop)[0]
            usable = sums > self.threshold
            self._cache[frames] = (sums, np.where(usable, 1 / np.maximum(sums, 1e-30), 1).astype("float32"))
        return self._cache[frames][0]

    def reciprocal(self, np_, frames):
        """1 / sums where the sum is not negligible, else 1 (float32), for any frame count."""
        if isinstance(frames, (int, np.integer)):
            self.sums(int(frames))
            return self._cache[int(frames)][1]
        window_sq = self.window_sq.astype("float32")
        stacked = np_.broadcast_to(window_sq, (1, frames, window_sq.size))
        sums = overlap_add(np_, stacked, frames, self.hop)[0]
        usable = sums > self.threshold
        return np_.where(usable, 1 / np_.maximum(sums, 1e-30), 1.0)

    def steady(self):
        """The sums over one hop far from both ends."""
        size = self.window_sq.size
        frames = -(-size // self.hop) * 2 + 1
        middle = (frames // 2) * self.hop
        return self.sums(frames)[middle : middle + self.hop]

"""The exact STFT and its inverse: `stft`, `istft`, `magnitude`, and the image layouts the layers use."""

import functools
import warnings

import numpy as np

from keras_spectro.functional import torch_paths
from keras_spectro.functional.common import (
    Tensor,
    Window,
    backend_for,
    check_choice,
    checked,
    is_known,
    is_runtime,
    positive_int,
    safe_sqrt,
    standardize_data_format,
    true_or_false,
)
from keras_spectro.functional.constants import DeviceConstants
from keras_spectro.functional.framing import (
    MIN_WINDOW_SUM,
    TRANSFORMS,
    WINDOWS,
    WindowSums,
    make_window,
    overlap_add,
)

PAD_MODES = ("constant", "reflect")
REPRESENTATIONS = ("real_imag", "mag_phase", "magnitude")
# The settings of one STFT, in the order of `stft`'s arguments: the layers' configs hold them too.
SETTINGS = ("n_fft", "hop_length", "win_length", "window", "center", "pad_mode", "dft")
PI = np.float32(np.pi)
CHECKED_COUNTS = 1024  # sample counts whose checks are remembered, per settings
_SETTINGS: dict[tuple, "STFTSettings"] = {}  # (stft's arguments, their types) → STFTSettings, at most MAX_SETTINGS
MAX_SETTINGS = 64


class STFTSettings:
    """One STFT's settings, checked, with the constants they need (window, DFT, window-square sums).

    Get one with `stft_settings(...)` (cached). Its methods work on float32 waveforms
    `(batch, channels, samples)` and on (real, imag) parts `(batch, channels, frames, bins)`,
    with `b` a Keras backend (`backend_for(x)`, or a layer's `self.backend`).

    Example: `s = stft_settings(n_fft=512); real, imag = s.spectrum(b, waves)`.
    """

    def __init__(
        self, n_fft=2048, hop_length=None, win_length=None, window="hann", center=True, pad_mode="constant", dft="fft"
    ):
        if isinstance(window, (list, tuple, np.ndarray)) and win_length is None:
            win_length = len(window)
        self.n_fft = positive_int(n_fft, "n_fft")
        self.hop_length = positive_int(max(1, n_fft // 4) if hop_length is None else hop_length, "hop_length")
        self.win_length = positive_int(n_fft if win_length is None else win_length, "win_length")
        if self.win_length > self.n_fft:
            raise ValueError(f"win_length ({win_length}) must not exceed n_fft ({n_fft}).")
        check_choice(pad_mode, PAD_MODES, "pad_mode")
        check_choice(dft, sorted(TRANSFORMS), "dft")
        self.window = window if window is None or isinstance(window, str) else np.asarray(window).tolist()
        self.center = true_or_false(center, "center")
        self.pad_mode = pad_mode
        self.dft = dft
        self.window_values = make_window(window, self.win_length, self.n_fft)
        self.transform = TRANSFORMS[dft](self.window_values, self.n_fft, self.hop_length)
        self.window_sums = WindowSums(self.window_values, self.hop_length)
        self._checked = set()  # sample counts already checked
        self.constants = DeviceConstants()  # edge_bins and the zero it puts there, on the device
        self._check_covered(self.window_sums.steady(), "in the middle of the signal")
        self._check_covered(self._between_centres_sums(), "near the first or the last frame")

    def config(self):
        """The settings as a dict of `SETTINGS`."""
        return {name: getattr(self, name) for name in SETTINGS}

    @property
    def bins(self):
        return self.n_fft // 2 + 1

    def frames_for(self, samples):
        """The number of frames for `samples` samples (None stays None; a tensor gives a tensor)."""
        if samples is None:
            return None
        padded = samples + 2 * (self.n_fft // 2) if self.center else samples
        return 1 + (padded - self.n_fft) // self.hop_length

    def default_length(self, frames):
        """The samples that `frames` frames cover when no length is given (librosa.istft's: with `center=True`,
        `(frames - 1) * hop_length`, one more for an odd `n_fft`)."""
        return (frames - 1) * self.hop_length + (self.n_fft % 2 if self.center else self.n_fft)

    def covered_length(self, b, samples):
        """A sample count >= `samples` whose STFT brings every one of the first `samples` samples back exactly.

        With `center=True` the last samples of some lengths get almost no window weight
        (with a Hann window and 50 % overlap, those just before where the next frame would be
        centred), so their inverse is only as good as the float32 rounding divided by that
        weight. Padding such a signal with zeros at the end to the returned length adds the
        frames that reach those samples; other lengths come back unchanged. `samples` may
        be a run-time tensor (a tensor comes back). With `center=False` the first and last
        samples depend on the window whatever the length: `samples` comes back.

        Example: `stft_settings(n_fft=512, hop_length=256).covered_length(b, 1023)` → 1280.
        """
        if not self.center:
            return samples
        short, residues = self._coverage_tables
        if not (short.any() or residues.any()):  # every length is covered (e.g. Hann at 75 % overlap)
            return samples
        if not is_known(samples) and b.name == "jax":  # a symbolic length: JAX export with shape polymorphism
            raise ValueError(
                f"With n_fft={self.n_fft} and hop_length={self.hop_length} some lengths are padded to be covered "
                "by the window, which a JAX export with a length known only at run time cannot do: export with a "
                "fixed length (input_signature=[keras.InputSpec(shape=(batch, samples, channels))])."
            )
        limit = len(short)
        reach = self.n_fft // 2 - (self.n_fft - self.win_length) // 2  # from a frame's centre to its window's start
        if is_known(samples):
            samples = int(samples)
            poor = short[samples] if samples < limit else residues[samples % self.hop_length]
            return (
                max(samples, (samples - 1 + reach) // self.hop_length * self.hop_length + self.n_fft % 2)
                if poor
                else samples
            )
        np_ = b.numpy
        clipped = np_.minimum(samples, limit - 1)
        poor = np_.where(
            samples < limit, np_.take(short, clipped), np_.take(residues, np_.mod(samples, self.hop_length))
        )
        padded = np_.maximum(samples, (samples - 1 + reach) // self.hop_length * self.hop_length + self.n_fft % 2)
        return np_.where(poor, padded, samples)

    @functools.cached_property
    def _coverage_tables(self):
        """(poor[L] for the lengths L < limit, poor[L % hop] beyond): whether some of L samples get less than
        `MIN_WINDOW_SUM` of the peak window weight (center=True). Beyond `limit` no sample lacks frames at
        both ends, so only the residue matters."""
        hop, half, window_sq = self.hop_length, self.n_fft // 2, self.window_sums.window_sq
        threshold = MIN_WINDOW_SUM * window_sq.max()
        limit = (-(-(2 * self.n_fft) // hop) + 1) * hop
        odd = self.n_fft % 2  # frames_for(L) = 1 + (L - odd) // hop
        sums, poor = np.zeros(limit + 3 * hop + self.n_fft), np.zeros(limit + 2 * hop + 1, bool)
        for q in range(limit // hop + 2):  # the lengths q * hop + odd ... q * hop + hop - 1 + odd: frames 0 ... q
            sums[q * hop : q * hop + self.n_fft] += window_sq
            low = np.minimum.accumulate(sums[half : half + (q + 1) * hop]) < threshold  # low[j]: samples 0 ... j
            first, last = max(q * hop + odd, 1), (q + 1) * hop + odd
            poor[first:last] = low[first - 1 : last - 1]
        residues = np.zeros(hop, bool)
        residues[np.arange(limit, limit + hop) % hop] = poor[limit : limit + hop]
        return poor[:limit], residues

    def _between_centres_sums(self):
        """The window-square sums of a signal of a few frames, from the first frame's centre to the last one's."""
        frames = 2 * -(-self.n_fft // self.hop_length) + 1  # those of `WindowSums.steady`: cached once
        sums = self.window_sums.sums(frames)
        return sums[self.n_fft // 2 : (frames - 1) * self.hop_length + self.n_fft // 2 + 1]

    # --- checks: in Python for known sizes, in the graph for sizes known only at run time ---
    def _check_covered(self, wss, where):
        low = float(np.min(wss)) if wss.size else 0.0
        if low < MIN_WINDOW_SUM * self.window_sums.window_sq.max():
            raise ValueError(
                f"hop_length={self.hop_length} is too large for this window (win_length="
                f"{self.win_length}, n_fft={self.n_fft}): samples {where} get almost no window "
                f"weight, so the inverse cannot exist. Use a smaller hop_length."
            )

    def _too_short(self, samples):
        """The message for a sample count the STFT cannot frame (or the reflect padding cannot pad), else None."""
        if not self.center and samples < self.n_fft:
            return f"n_fft={self.n_fft} is larger than the signal ({samples} samples) with center=False."
        if self.center and self.pad_mode == "reflect" and samples <= self.n_fft // 2:
            return f"pad_mode='reflect' needs more than n_fft // 2 = {self.n_fft // 2} samples; got {samples}."
        return None

    def _check_known_samples(self, samples):
        # a set, not functools.lru_cache: torch.compile traces through an lru_cache (and its numpy) on every call
        if samples in self._checked:
            return
        self._check_new_samples(samples)
        if len(self._checked) >= CHECKED_COUNTS:
            self._checked.clear()
        self._checked.add(samples)

    def _check_new_samples(self, samples):
        message = self._too_short(samples)
        if message:
            raise ValueError(message)

    def check_samples(self, b, samples):
        """Refuses a sample count the STFT cannot frame or the inverse could not bring back.

        Known counts raise a ValueError now; a TensorFlow run-time count gives the
        `(condition, message)` pairs for `checked` (framing and padding only; the
        window coverage of a run-time count is not checked).
        """
        if is_known(samples):
            self._check_known_samples(int(samples))
            return []
        if not is_runtime(b, samples):
            return []
        shortest = self.n_fft if not self.center else (self.n_fft // 2 + 1 if self.pad_mode == "reflect" else 1)
        what = "n_fft" if not self.center else "pad_mode='reflect' (more than n_fft // 2 samples)"
        message = f"The signal is shorter than {shortest} samples, too short for {what} with n_fft={self.n_fft}, center={self.center}."
        return [(samples >= shortest, message)]

    def check_frames(self, b, frames, length, who):
        """Refuses images of `frames` frames that cannot become `length` samples (now, or as run-time checks)."""
        if frames is None or length is None:
            return []
        if is_known(frames) and is_known(length):
            if self.frames_for(length) != frames:
                raise ValueError(
                    f"{who}: images of {frames} frames cannot become {length} samples, which take {self.frames_for(length)} frames {self._advice()}"
                )
            return []
        if not (is_runtime(b, frames) or is_runtime(b, length)):
            return []
        message = f"{who}: the images' frame count does not fit the sample count asked for (a network that changes the frame count?) {self._advice()}"
        return [(b.numpy.equal(self.frames_for(length), frames), message)]

    def _advice(self):
        return (
            f"(n_fft={self.n_fft}, hop_length={self.hop_length}, center={self.center}). For audio of any length use "
            "SpectrogramDomain; InverseSTFTSplit(length=None) returns all the samples the frames cover."
        )

    def inverse_checks(self, b, part, length, who):
        """For parts `(batch, channels, frames, bins)` going back to `length` samples (None: all the frames cover):
        `(length, run-time checks, None or the empty waveforms of a batch of 0)`; wrong sizes raise now."""
        batch, channels, frames, bins = b.core.shape(part)
        if bins != self.bins:
            raise ValueError(f"{who}: the images have {bins} frequency bins but n_fft={self.n_fft} gives {self.bins}.")
        checks = self.check_frames(b, frames, length, who)  # a default length fits by definition
        length = self.default_length(frames) if length is None else length
        checks += self.check_samples(b, length)
        empty = b.numpy.zeros((0, channels, length), "float32") if is_known(batch) and batch == 0 else None
        return length, checks, empty

    # --- the transform and its inverse on (real, imag) parts ---------------
    def spectrum(self, b, x):
        """float32 waveforms `(batch, channels, samples)` → real, imag `(batch, channels, frames, bins)`.

        The DC bin, and the Nyquist bin for even `n_fft`, have an imaginary part of exactly +0.
        """
        if self.center:
            half = self.n_fft // 2
            x = b.numpy.pad(x, ((0, 0), (0, 0), (half, half)), mode=self.pad_mode)
        real, imag = self.transform.stft(b, x)
        edges = self.constants.get(b, "edge_bins", lambda: self.edge_bins, imag)
        zero = self.constants.get(b, "zero", lambda: np.float32(0.0), imag)
        return real, b.numpy.where(edges, zero, imag)

    @functools.cached_property
    def edge_bins(self):
        """True at the bins whose values are real for a real signal: DC, and Nyquist for even n_fft."""
        mask = np.zeros(self.bins, bool)
        mask[0] = True
        mask[-1] = self.n_fft % 2 == 0
        return mask

    def overlap_add(self, b, real, imag, length):
        """real, imag `(batch, channels, frames, bins)` → float32 waveforms `(batch, channels, length)`."""
        return self.waves_from_segments(b, self.transform.windowed_irfft(b, real, imag), length)

    def waves_from_segments(self, b, segments, length):
        """Windowed segments `(batch, channels, frames, n_fft)` → float32 waveforms `(batch, channels, length)`."""
        np_ = b.numpy
        frames = b.core.shape(segments)[2]
        signal = overlap_add(np_, segments, frames, self.hop_length)
        signal = np_.multiply(signal, self.window_sums.reciprocal_like(b, frames, signal))
        if self.center:
            start = self.n_fft // 2
        else:  # no frame reaches the last (at most hop_length - 1) samples: they are 0
            start, signal = 0, np_.pad(signal, ((0, 0), (0, 0), (0, self.hop_length)))
        return signal[..., start : start + length]


def _cached_settings(*args):
    # a dict, not functools.lru_cache: torch.compile traces through an lru_cache (and the numpy of a new
    # STFTSettings) on every call, and differentiated such traces wrongly (issue 28)
    key = (args, tuple(type(a) for a in args))  # typed: 64.0 is refused, not taken for 64
    settings = _SETTINGS.get(key)
    if settings is None:
        settings = STFTSettings(*args)
        if len(_SETTINGS) >= MAX_SETTINGS:
            _SETTINGS.clear()
        _SETTINGS[key] = settings
    return settings


def stft_settings(
    n_fft=2048, hop_length=None, win_length=None, window="hann", center=True, pad_mode="constant", dft="fft"
):
    """The checked, cached `STFTSettings` of these arguments (those of `stft`)."""
    if isinstance(window, (list, tuple, np.ndarray)):
        window = window_values(window)
    if type(n_fft) is int and n_fft >= 1:  # defaults resolved: a layer and its inverse share one object
        hop_length = max(1, n_fft // 4) if hop_length is None else hop_length
        if win_length is None:
            win_length = len(window) if isinstance(window, tuple) else n_fft
    return _cached_settings(n_fft, hop_length, win_length, window, center, pad_mode, dft)


def window_values(window):
    """An explicit window as a tuple of floats; a ValueError naming the windows taken for anything else.

    Example: `window_values(np.hanning(400))` → 400 floats; `window_values(("kaiser", 4.0))` → ValueError.
    """
    try:
        values = np.asarray(window, "float64")
    except (TypeError, ValueError):
        values = None
    if values is None or values.ndim != 1:
        raise ValueError(
            f"window must be one of {sorted(WINDOWS)}, None or an array of win_length numbers; got {window!r}. "
            "Windows with parameters, e.g. ('kaiser', 4.0), are taken as their values: "
            "window=scipy.signal.get_window(('kaiser', 4.0), win_length)."
        )
    return tuple(values.tolist())


def warn_if_longer(settings, samples):
    """Warns, as librosa does, when `n_fft` is longer than a (known) signal of `samples` samples with `center=True`."""
    if settings.center and is_known(samples) and settings.n_fft > samples:
        warnings.warn(f"n_fft={settings.n_fft} is too large for input signal of length={samples}.", stacklevel=3)


# --- layouts -----------------------------------------------------------------------
def waves_first(b, waves, data_format):
    """Waveforms in `data_format` → float32 `(batch, channels, samples)`."""
    x = b.cast(waves, "float32")
    return b.numpy.transpose(x, (0, 2, 1)) if data_format == "channels_last" else x


def waves_from_first(b, x, data_format):
    """float32 `(batch, channels, samples)` → waveforms in `data_format`."""
    return b.numpy.transpose(x, (0, 2, 1)) if data_format == "channels_last" else x


def _parts_order(data_format):
    """The transpose between the parts' `(batch, channels, frames, bins)` and the public layout (its own inverse)."""
    return (0, 3, 2, 1) if data_format == "channels_last" else (0, 1, 3, 2)


def parts_to_public(b, part, data_format):
    """`(batch, channels, frames, bins)` → `(batch, bins, frames, channels)` or `(batch, channels, bins, frames)`."""
    return b.numpy.transpose(part, _parts_order(data_format))


parts_from_public = parts_to_public  # the transpose is its own inverse


def polar(b, real, imag):
    """(magnitude, phase in (-π, π]); exact zeros get magnitude and phase 0 with 0 gradient; NaN and inf pass through."""
    np_ = b.numpy
    power = real * real + imag * imag
    silent = power == 0
    phase = np_.arctan2(np_.where(silent, 0.0, imag), np_.where(silent, 1.0, real))
    return safe_sqrt(np_, power), np_.where(phase == -PI, PI, phase)


def image_from_parts(b, first, second, data_format):
    """Two parts `(batch, channels, frames, bins)` → an image with interleaved channels `[A1, B1, A2, B2, ...]`."""
    np_ = b.numpy
    batch, channels, frames, bins = b.core.shape(first)
    last = data_format == "channels_last"
    if b.name == "torch":  # eager torch: transposing each part, then stacking, is one strided pass fewer
        image = np_.stack(
            [np_.transpose(p, _parts_order(data_format)) for p in (first, second)], axis=-1 if last else 2
        )
    else:  # under XLA (every call on JAX, eager TensorFlow): stacking, then one transpose, is faster
        image = np_.transpose(np_.stack([first, second], axis=-1), (0, 3, 2, 1, 4) if last else (0, 1, 4, 3, 2))
    shape = (batch, bins, frames, 2 * channels) if last else (batch, 2 * channels, bins, frames)
    return np_.reshape(image, shape)


def parts_from_image(b, images, data_format):
    """An interleaved image → its two parts `(batch, channels, frames, bins)`, as float32."""
    np_ = b.numpy
    x = b.cast(images, "float32")
    # the parts axis first, then unstacked: TensorFlow's gradient of x[..., 0] is 3.5x slower (benchmarks/fit_overhead.py)
    if data_format == "channels_last":
        batch, bins, frames, channels = b.core.shape(x)
        x = np_.transpose(np_.reshape(x, (batch, bins, frames, channels // 2, 2)), (4, 0, 3, 2, 1))
    else:
        batch, channels, bins, frames = b.core.shape(x)
        x = np_.transpose(np_.reshape(x, (batch, channels // 2, 2, bins, frames)), (2, 0, 1, 4, 3))
    first, second = b.core.unstack(x, 2, axis=0)
    return first, second


# --- what the STFT layers compute -----------------------------------------------------
def waves_to_image(b, waves, settings, representation, data_format):
    """Waveforms → images of `representation` (`STFTSplit`'s numbers), stateless."""
    x = waves_first(b, waves, data_format)
    if b.name == "torch" and settings.dft == "fft" and representation == "real_imag":
        padded = x
        if settings.center:
            half = settings.n_fft // 2
            padded = b.numpy.pad(x, ((0, 0), (0, 0), (half, half)), mode=settings.pad_mode)
        image = torch_paths.image(settings.transform, padded, data_format == "channels_last")
        if image is not None:
            return image
    real, imag = settings.spectrum(b, x)
    if representation == "magnitude":
        return parts_to_public(b, safe_sqrt(b.numpy, real * real + imag * imag), data_format)
    if representation == "mag_phase":
        real, imag = polar(b, real, imag)
    return image_from_parts(b, real, imag, data_format)


def image_to_waves(b, images, settings, representation, length, data_format):
    """real_imag or mag_phase images → `length` samples in `data_format` (`InverseSTFTSplit`'s numbers), stateless."""
    first, second = parts_from_image(b, images, data_format)
    if b.name == "torch" and settings.dft == "fft" and is_known(length):
        frames = b.core.shape(first)[2]
        start = settings.n_fft // 2 if settings.center else 0
        reciprocal = settings.window_sums.reciprocal_like(b, frames, first)
        signal = torch_paths.inverse(
            settings.transform,
            first,
            second,
            representation == "mag_phase",
            reciprocal,
            start,
            int(length),
            data_format == "channels_last",
        )
        if signal is not None:
            return waves_from_first(b, signal, data_format)
    if b.name == "torch" and settings.dft == "fft" and representation == "real_imag" and data_format == "channels_last":
        segments = torch_paths.segments(settings.transform, b.cast(images, "float32"))
        return waves_from_first(b, settings.waves_from_segments(b, segments, length), data_format)
    if representation == "mag_phase":
        first, second = first * b.numpy.cos(second), first * b.numpy.sin(second)
    return waves_from_first(b, settings.overlap_add(b, first, second, length), data_format)


# --- the public functions -----------------------------------------------------------
def stft(
    waves: Tensor,
    n_fft: int = 2048,
    hop_length: int | None = None,
    win_length: int | None = None,
    window: Window = "hann",
    center: bool = True,
    pad_mode: str = "constant",
    dft: str = "fft",
    data_format: str | None = None,
) -> tuple[Tensor, Tensor]:
    """The STFT of waveforms as (real, imag), the numbers of `librosa.stft`.

    Args:
        waves: `(batch, samples, channels)` (channels_last) or `(batch, channels, samples)`.
        n_fft: FFT size.
        hop_length: samples between frames (default `n_fft // 4`).
        win_length: window size, centred in `n_fft` (default `n_fft`).
        window: `"hann"`, `"hamming"`, `"blackman"`, None or an array, as in `STFTSplit`.
        center: frame t centred at `t * hop_length` (`n_fft // 2` samples padded on both sides).
        pad_mode: `"constant"` or `"reflect"`.
        dft: `"fft"` or `"matmul"` (real matrix products, for export).
        data_format: default `keras.config.image_data_format()`.

    Returns: `(real, imag)`, each float32 `(batch, bins, frames, channels)` (channels_last)
    or `(batch, channels, bins, frames)`, `bins = n_fft // 2 + 1`.

    Example:

    ```python
    real, imag = keras_spectro.functional.stft(waves, n_fft=512, hop_length=128)  # (8, 16000, 2) → 2 x (8, 257, 126, 2)
    ```
    """
    b, data_format = backend_for(waves), standardize_data_format(data_format)
    settings = stft_settings(n_fft, hop_length, win_length, window, center, pad_mode, dft)
    x = waves_first(b, waves, data_format)
    batch, channels, samples = b.core.shape(x)
    checks = settings.check_samples(b, samples)
    warn_if_longer(settings, samples)
    if is_known(batch) and batch == 0:
        empty = b.numpy.zeros((0, channels, settings.frames_for(samples), settings.bins), "float32")
        return parts_to_public(b, empty, data_format), parts_to_public(b, empty, data_format)
    real, imag = settings.spectrum(b, x)
    return tuple(checked(b, parts_to_public(b, part, data_format), checks) for part in (real, imag))


def istft(
    real: Tensor,
    imag: Tensor,
    n_fft: int = 2048,
    hop_length: int | None = None,
    win_length: int | None = None,
    window: Window = "hann",
    center: bool = True,
    pad_mode: str = "constant",
    dft: str = "fft",
    length: int | None = None,
    data_format: str | None = None,
) -> Tensor:
    """The exact inverse of `stft`: (real, imag) → waveforms, `istft(*stft(x), length=samples)` equals `x`.

    Args: those of `stft`, and `length`: the samples to return (default: all the frames
    cover, as librosa: `(frames - 1) * hop_length` with `center=True`, one more for an odd
    `n_fft`). Images whose frame count does not fit `length` are refused with a ValueError.
    At lengths whose last samples get little window weight (`STFTSettings.covered_length`
    tells), those samples are as accurate as `librosa.istft` makes them, not exact.

    Returns: float32 `(batch, samples, channels)` (channels_last) or `(batch, channels, samples)`.

    Example: `waves = istft(real, imag, n_fft=512, hop_length=128, length=16000)`
    """
    b, data_format = backend_for(real), standardize_data_format(data_format)
    settings = stft_settings(n_fft, hop_length, win_length, window, center, pad_mode, dft)
    first = parts_from_public(b, b.cast(real, "float32"), data_format)
    second = parts_from_public(b, b.cast(imag, "float32"), data_format)
    length, checks, empty = settings.inverse_checks(b, first, length, "istft")
    if empty is not None:
        return waves_from_first(b, empty, data_format)
    return checked(b, waves_from_first(b, settings.overlap_add(b, first, second, length), data_format), checks)


def magnitude(real: Tensor, imag: Tensor) -> Tensor:
    """`|real + i imag|`, 0 with a 0 gradient where both are exactly 0 (NaN and inf pass through).

    Example: `magnitude(*stft(waves, n_fft=1024))` → `(batch, bins, frames, channels)`.
    """
    b = backend_for(real)
    real, imag = b.cast(real, "float32"), b.cast(imag, "float32")
    return safe_sqrt(b.numpy, real * real + imag * imag)

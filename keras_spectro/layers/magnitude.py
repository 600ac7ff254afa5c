"""Layers for magnitude-only images: `MelScale` (mel filter bank) and `MagnitudeCompression` (power or log)."""

import keras
import numpy as np

from keras_spectro.functional.common import (
    check_choice,
    non_negative_int,
    non_negative_number,
    positive_int,
    positive_number,
    safe_sqrt,
    sample_rate_hz,
    standardize_data_format,
    true_or_false,
)
from keras_spectro.functional.constants import DeviceConstants
from keras_spectro.functional.mel import mel_filters
from keras_spectro.functional.spectrum import REPRESENTATIONS
from keras_spectro.layers.base import InvertibleLayer

MODES = ("power", "log")


def _pairs(np_, b, x, data_format, per_channel):
    """`x` with the image channels split into (audio channel, member): axis -1 (channels_last) or 2."""
    shape = b.core.shape(x)
    if data_format == "channels_last":
        return np_.reshape(x, (*shape[:3], shape[3] // per_channel, per_channel)), -1
    return np_.reshape(x, (shape[0], shape[1] // per_channel, per_channel, *shape[2:])), 2


def _signed_power(np_, x, exponent):
    """sign(x) |x|**exponent: 0 at 0 with a 0 gradient there; NaN and inf pass through."""
    zero = x == 0
    size = np_.power(np_.abs(np_.where(zero, 1.0, x)), exponent)
    return np_.where(zero, 0.0, np_.where(x < 0, -size, size))


@keras.saving.register_keras_serializable(package="keras_spectro")
class MelScale(InvertibleLayer):
    """Magnitude images → mel images with `librosa.filters.mel`'s filters; an estimate back.

    Channels_last `(batch, bins, frames, channels)` → `(batch, n_mels, frames, channels)`,
    `mel = filters @ magnitudes` along the bins axis, one image channel per
    audio channel (`STFTSplit(representation="magnitude")`, perhaps compressed).
    The filters are computed in numpy from the settings. The inverse is not
    exact (many magnitude spectra share one mel spectrum): it is a
    non-negative least-squares estimate, the clipped pseudo-inverse refined
    by `n_iter` steps of accelerated projected gradient (FISTA).

    Args:
        sample_rate: of the audio, in Hz.
        n_fft: the STFT size (`n_fft // 2 + 1` bins).
        n_mels: the number of mel bands.
        fmin: the lowest frequency, in Hz.
        fmax: the highest frequency, in Hz (default `sample_rate / 2`).
        htk: the HTK mel formula instead of Slaney's, as `librosa.filters.mel`.
        norm: `"slaney"` (area normalization), None, or a number p for unit p-norm filters.
        n_iter: the inverse's projected-gradient steps.
        data_format: `"channels_last"` or `"channels_first"` `(batch, channels, bins, frames)`.
        **kwargs: `keras.layers.Layer`'s `name`, `dtype`, `trainable`.

    Example:

    ```python
    mel = MelScale(sample_rate=22050, n_fft=1024, n_mels=80)
    mels = mel(magnitudes)                     # (8, 513, 87, 2) → (8, 80, 87, 2)
    magnitudes_estimate = mel.inverse()(mels)  # (8, 513, 87, 2), non-negative
    ```
    """

    def __init__(
        self,
        sample_rate,
        n_fft,
        n_mels=128,
        fmin=0.0,
        fmax=None,
        htk=False,
        norm="slaney",
        n_iter=32,
        data_format=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.sample_rate = sample_rate_hz(sample_rate)
        self.n_fft = positive_int(n_fft, "n_fft")
        self.n_mels = positive_int(n_mels, "n_mels")
        self.fmin = non_negative_number(fmin, "fmin")
        self.fmax = None if fmax is None else positive_number(fmax, "fmax")
        if not 0 <= self.fmin < (sample_rate / 2 if fmax is None else self.fmax):
            raise ValueError(f"Need 0 <= fmin < fmax (default sample_rate / 2); got fmin={fmin!r}, fmax={fmax!r}.")
        if not (
            norm is None
            or norm == "slaney"
            or (isinstance(norm, (int, float, np.number)) and not isinstance(norm, bool) and norm > 0)
        ):
            raise ValueError(f"norm must be 'slaney', None or a positive number; got {norm!r}.")
        self.htk, self.norm, self.n_iter = true_or_false(htk, "htk"), norm, non_negative_int(n_iter, "n_iter")
        self.data_format = standardize_data_format(data_format)
        filters = mel_filters(self.sample_rate, self.n_fft, self.n_mels, self.fmin, self.fmax, self.htk, norm).astype(
            "float64"
        )
        self.filters = filters.astype("float32")  # (n_mels, bins)
        # the inverse's constants: the pseudo-inverse, and the gradient step 1 / ||filters||^2
        self._pinv_t = np.linalg.pinv(filters).T.astype("float32")  # (n_mels, bins)
        self._step = (filters / max(np.linalg.norm(filters, 2) ** 2, 1e-30)).astype("float32")  # (n_mels, bins)
        self._constants = DeviceConstants()  # the three matrices on the device, made once per device

    def _matrix(self, name, like):
        """`filters_t`, `pinv_t` or `step` as a tensor on `like`'s device (numpy inside a trace)."""
        values = {"filters_t": lambda: self.filters.T, "pinv_t": lambda: self._pinv_t, "step": lambda: self._step}
        return self._constants.get(self.backend, name, values[name], like)

    @property
    def bins(self):
        return self.n_fft // 2 + 1

    def _axes(self):
        return (3, 1) if self.data_format == "channels_last" else (1, 2)  # (channels, frequency)

    def _check(self, shape, size, what):
        layout = (
            "(batch, bins, frames, channels)"
            if self.data_format == "channels_last"
            else "(batch, channels, bins, frames)"
        )
        if len(shape) != 4:
            raise ValueError(f"MelScale expects magnitude images {layout}; got shape {tuple(shape)}.")
        channel_axis, frequency_axis = self._axes()
        if shape[frequency_axis] != size:
            raise ValueError(f"{what} must have {size} rows on the frequency axis; got shape {tuple(shape)}.")
        if shape[channel_axis] is None:
            raise ValueError(f"The channel axis must be known; got shape {tuple(shape)}.")

    def _resized(self, shape, size):
        shape = list(shape)
        shape[self._axes()[1]] = size
        return tuple(shape)

    def build(self, input_shape):
        self._check(input_shape, self.bins, f"Magnitude images for n_fft={self.n_fft}")
        channel_axis, frequency_axis = self._axes()
        self.input_spec = keras.layers.InputSpec(
            ndim=4, axes={channel_axis: input_shape[channel_axis], frequency_axis: self.bins}
        )

    def compute_output_shape(self, input_shape):
        self._check(input_shape, self.bins, f"Magnitude images for n_fft={self.n_fft}")
        return self._resized(input_shape, self.n_mels)

    def compute_inverse_output_shape(self, input_shape):
        self._check(input_shape, self.n_mels, f"Mel images of n_mels={self.n_mels}")
        return self._resized(input_shape, self.bins)

    def _frequency_last(self, x):
        return self.backend.numpy.transpose(x, (0, 3, 2, 1) if self.data_format == "channels_last" else (0, 1, 3, 2))

    def call(self, inputs):
        np_ = self.backend.numpy
        x = self._frequency_last(self.backend.cast(inputs, "float32"))  # (batch, channels|frames, ..., bins)
        return self.backend.cast(self._frequency_last(np_.matmul(x, self._matrix("filters_t", x))), self.compute_dtype)

    def inverse_call(self, inputs):
        np_ = self.backend.numpy
        mel = self._frequency_last(self.backend.cast(inputs, "float32"))
        filters_t, step_matrix = self._matrix("filters_t", mel), self._matrix("step", mel)
        estimate = np_.matmul(mel, self._matrix("pinv_t", mel))
        estimate = np_.where(estimate < 0, 0.0, estimate)  # NaN stays NaN
        ahead, momentum = estimate, 1.0
        for _ in range(self.n_iter):  # FISTA on ||filters @ x - mel||^2, x >= 0
            step = ahead - np_.matmul(np_.matmul(ahead, filters_t) - mel, step_matrix)
            step = np_.where(step < 0, 0.0, step)
            next_momentum = (1 + (1 + 4 * momentum * momentum) ** 0.5) / 2
            ahead = step + ((momentum - 1) / next_momentum) * (step - estimate)
            estimate, momentum = step, next_momentum
        return self.backend.cast(self._frequency_last(estimate), self.compute_dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "sample_rate": self.sample_rate,
            "n_fft": self.n_fft,
            "n_mels": self.n_mels,
            "fmin": self.fmin,
            "fmax": self.fmax,
            "htk": self.htk,
            "norm": self.norm,
            "n_iter": self.n_iter,
            "data_format": self.data_format,
        }


@keras.saving.register_keras_serializable(package="keras_spectro")
class MagnitudeCompression(InvertibleLayer):
    """Compresses magnitudes: m → m**exponent (`"power"`) or log(m + epsilon) (`"log"`); exact inverse.

    Works on the images of every `STFTSplit` representation: `"magnitude"`
    (every channel), `"mag_phase"` (the magnitude channels; phases are kept) and,
    for `"power"` only, `"real_imag"` (each (real, imaginary) pair is rescaled so
    its magnitude becomes m**exponent, its phase kept). Values and gradients
    are finite at exactly 0 (the gradient there is 0); NaN and inf pass
    through. `"power"` keeps the sign of a negative value (-|m|**exponent), so
    any real input comes back; `"log"` expects m >= 0 (values below -epsilon
    give NaN), and its inverse is exp(y) - epsilon.

    Args:
        mode: `"power"` or `"log"`.
        exponent: for `"power"`, > 0 (0.3 is common in speech enhancement).
        epsilon: for `"log"`, > 0.
        representation: that of the images, as `STFTSplit`'s.
        data_format: `"channels_last"` or `"channels_first"`.
        **kwargs: `keras.layers.Layer`'s `name`, `dtype`, `trainable`.

    Example:

    ```python
    compress = MagnitudeCompression("power", exponent=0.3)   # on real_imag images
    compressed = compress(images)
    images_again = compress.inverse()(compressed)             # exact
    log_mel = MagnitudeCompression("log", representation="magnitude")(mels)
    ```
    """

    def __init__(
        self, mode="power", exponent=0.3, epsilon=1e-5, representation="real_imag", data_format=None, **kwargs
    ):
        super().__init__(**kwargs)
        check_choice(mode, MODES, "mode")
        check_choice(representation, REPRESENTATIONS, "representation")
        if mode == "log" and representation == "real_imag":
            raise ValueError(
                "mode='log' compresses magnitude channels only: use representation='mag_phase' or "
                "'magnitude' (real_imag images have no magnitude channel; mode='power' rescales their pairs)."
            )
        self.mode = mode
        self.exponent, self.epsilon = positive_number(exponent, "exponent"), positive_number(epsilon, "epsilon")
        self.representation = representation
        self.data_format = standardize_data_format(data_format)

    def build(self, input_shape):
        channel_axis = len(input_shape) - 1 if self.data_format == "channels_last" else 1
        channels = input_shape[channel_axis] if len(input_shape) == 4 else None
        if channels is None or (self.representation != "magnitude" and channels % 2):
            need = "an even, known channel count" if self.representation != "magnitude" else "a known channel count"
            raise ValueError(
                f"MagnitudeCompression ({self.representation}) expects rank-4 images with {need}; got shape {tuple(input_shape)}."
            )
        self.input_spec = keras.layers.InputSpec(ndim=4, axes={channel_axis: channels})

    def _magnitude(self, np_, m, forward):
        if self.mode == "power":
            return _signed_power(np_, m, self.exponent if forward else 1.0 / self.exponent)
        return np_.log(m + self.epsilon) if forward else np_.exp(m) - self.epsilon

    def _apply(self, inputs, forward):
        np_, b = self.backend.numpy, self.backend
        x = b.cast(inputs, "float32")
        if self.representation == "magnitude":
            return b.cast(self._magnitude(np_, x, forward), self.compute_dtype)
        shape = b.core.shape(x)
        pairs, axis = _pairs(np_, b, x, self.data_format, 2)
        if self.representation == "mag_phase":
            first, second = np_.split(pairs, 2, axis=axis)
            pairs = np_.concatenate([self._magnitude(np_, first, forward), second], axis=axis)
        else:  # real_imag: scale each pair by new magnitude / magnitude, 0 at 0
            size = safe_sqrt(np_, np_.sum(pairs * pairs, axis=axis, keepdims=True))
            exponent = self.exponent - 1.0 if forward else 1.0 / self.exponent - 1.0
            pairs = pairs * np_.where(size == 0, 0.0, np_.power(np_.where(size == 0, 1.0, size), exponent))
        return b.cast(np_.reshape(pairs, shape), self.compute_dtype)

    def call(self, inputs):
        return self._apply(inputs, forward=True)

    def inverse_call(self, inputs):
        return self._apply(inputs, forward=False)

    def get_config(self):
        return {
            **super().get_config(),
            "mode": self.mode,
            "exponent": self.exponent,
            "epsilon": self.epsilon,
            "representation": self.representation,
            "data_format": self.data_format,
        }

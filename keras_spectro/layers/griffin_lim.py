"""`GriffinLim`: magnitude images back to waveforms, librosa's fast Griffin-Lim on the package's exact STFT."""

import keras
import numpy as np

from keras_spectro.layers.base import InvertibleLayer, _Unsaved, positive_int, standardize_data_format
from keras_spectro.layers.compiled import EagerCompiled
from keras_spectro.layers.stft import STFTSplit
from keras_spectro.layers.stft_base import _STFTLayer

INITS = ("zeros", "random")


@keras.saving.register_keras_serializable(package="keras_spectro")
class GriffinLim(InvertibleLayer):
    """Estimates waveforms whose STFT magnitudes are the given images (fast Griffin-Lim).

    Channels_last `(batch, bins, frames, channels)` → `(batch, samples, channels)`:
    the magnitudes of `STFTSplit(representation="magnitude")`, or a network's
    estimate of them. The update is librosa's `griffinlim` (Perraudin et al.'s
    fast Griffin-Lim with `momentum`), run on `STFTSplit`'s exact STFT and its
    inverse, batched over examples and channels, with a fixed number of
    iterations (also under jit). Phase is not in the images, so the result is
    an estimate: its STFT magnitudes approach the images, the waveform need
    not equal the original. Negative magnitudes count as 0; NaN and inf pass
    through to the output.

    Args:
        n_fft, hop_length, win_length, window, center, pad_mode, dft: as in
            `STFTSplit`, the settings that made the magnitudes.
        n_iter: the number of iterations (each one inverse STFT and one STFT).
        momentum: librosa's momentum (0: the original Griffin-Lim).
        init: `"zeros"` (phase 0 everywhere: librosa's `init=None`) or
            `"random"` (uniform phases drawn with `seed`, the same every call;
            the numbers differ from librosa's and between backends).
        length: the samples to return (default: all the frames cover,
            `(frames - 1) * hop_length` with `center=True`).
        data_format: `"channels_last"` or `"channels_first"` `(batch, channels, bins, frames)`.

    Example:

    ```python
    stft = STFTSplit(n_fft=1024, hop_length=256, representation="magnitude")
    magnitudes = stft(waves)                       # (8, 44100, 2) → (8, 513, 173, 2)
    waves_again = GriffinLim(n_fft=1024, hop_length=256, length=44100)(magnitudes)
    waves_again = stft.inverse()(magnitudes)       # the same: a GriffinLim that follows stft's length
    ```
    """

    def __init__(
        self,
        n_fft=2048,
        hop_length=None,
        win_length=None,
        window="hann",
        center=True,
        n_iter=32,
        momentum=0.99,
        init="zeros",
        length=None,
        data_format=None,
        pad_mode="constant",
        seed=0,
        dft="fft",
        **kwargs,
    ):
        super().__init__(**kwargs)
        # STFTSplit's exact STFT and inverse, used on (real, imaginary) parts
        stft = _STFTLayer(n_fft, hop_length, win_length, window, center, pad_mode, dft=dft, dtype="float32", name=self.name)
        self._stft = _Unsaved(stft)
        self.n_fft, self.hop_length, self.win_length, self.window = stft.n_fft, stft.hop_length, stft.win_length, stft.window
        self.center, self.pad_mode, self.dft = stft.center, stft.pad_mode, stft.dft
        if isinstance(n_iter, bool) or not isinstance(n_iter, (int, np.integer)) or n_iter < 0:
            raise ValueError(f"n_iter must be a non-negative integer; got {n_iter!r}.")
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float, np.number)) or not 0 <= momentum < float("inf"):
            raise ValueError(f"momentum must be a non-negative number; got {momentum!r}.")
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}; got {init!r}.")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise ValueError(f"seed must be an integer; got {seed!r}.")
        self.n_iter, self.momentum, self.init, self.seed = int(n_iter), float(momentum), init, int(seed)
        self.length = None if length is None else positive_int(length, "length")
        self.data_format = standardize_data_format(data_format)
        self._source = None  # the STFTSplit whose inverse() this is: it follows that layer's input length
        self._analysis = _Unsaved(None)  # the magnitude STFTSplit of inverse_call, made when needed
        self._compiled = EagerCompiled()
        self.share_backend(self.backend)

    def share_backend(self, backend):
        """Uses `backend` (a layer's `self.backend`) here and in the STFT helpers, so they switch together."""
        self.backend = self._stft.layer.backend = backend
        if self._analysis.layer is not None:
            self._analysis.layer.backend = backend

    # --- shapes -----------------------------------------------------------
    def _axes(self):
        return (3, 1, 2) if self.data_format == "channels_last" else (1, 2, 3)  # (channels, bins, frames)

    def _check_shape(self, shape, length):
        layout = "(batch, bins, frames, channels)" if self.data_format == "channels_last" else "(batch, channels, bins, frames)"
        if len(shape) != 4:
            raise ValueError(f"GriffinLim expects magnitude images of shape {layout}; got shape {tuple(shape)}.")
        channel_axis, bins_axis, frames_axis = self._axes()
        if shape[bins_axis] != self._stft.layer.bins:
            raise ValueError(
                f"The image has {shape[bins_axis]} frequency bins but n_fft={self.n_fft} gives {self._stft.layer.bins}; got shape {tuple(shape)}."
            )
        if shape[channel_axis] is None:
            raise ValueError(f"The channel axis of the magnitude images must be known; got shape {tuple(shape)}.")
        self._stft.layer._check_frames(shape[frames_axis], length)

    def _follows_source(self):
        return self.length is None and self._source is not None and self._source.layer.built

    def build(self, input_shape):
        self._check_shape(input_shape, None if self._follows_source() else self.length)
        channel_axis, bins_axis, _ = self._axes()
        self.input_spec = keras.layers.InputSpec(ndim=4, axes={channel_axis: input_shape[channel_axis], bins_axis: self._stft.layer.bins})

    def compute_output_shape(self, input_shape):
        channel_axis, _, frames_axis = self._axes()
        if self._follows_source():
            length = self._source.layer._ran_on
        else:
            self._check_shape(input_shape, self.length)
            frames = input_shape[frames_axis]
            length = self.length or (None if frames is None else self._stft.layer._default_length(frames))
        channels = input_shape[channel_axis]
        return (input_shape[0], length, channels) if self.data_format == "channels_last" else (input_shape[0], channels, length)

    def compute_inverse_output_shape(self, input_shape):
        return self._magnitude_stft().compute_output_shape(input_shape)

    # --- the two directions -------------------------------------------------
    def call(self, inputs):
        return self.reconstruct(inputs, self._source.layer._inverse_length() if self._follows_source() else self.length)

    def reconstruct(self, magnitudes, length=None):
        """Waveforms of `length` samples (an int, a run-time scalar, or None: all the frames cover)."""
        np_, b, stft = self.backend.numpy, self.backend, self._stft.layer
        s = b.cast(magnitudes, "float32")
        s = np_.transpose(s, (0, 3, 2, 1) if self.data_format == "channels_last" else (0, 1, 3, 2))
        s = np_.where(s < 0, 0.0, s)  # (batch, channels, frames, bins), as the transform's parts; NaN stays NaN
        batch, channels, frames, _ = b.core.shape(s)
        length = stft._default_length(frames) if length is None else length
        stft._check_frames(frames, length)
        stft._check_samples(length)
        if isinstance(batch, int) and batch == 0:
            shape = (0, length, channels) if self.data_format == "channels_last" else (0, channels, length)
            return np_.zeros(shape, self.compute_dtype)
        if self.init == "random":
            phase = b.random.uniform(b.core.shape(s), maxval=2 * np.pi, dtype="float32", seed=self.seed)
            real, imag = s * np_.cos(phase), s * np_.sin(phase)
        else:
            real, imag = s, np_.zeros_like(s)
        # eager: the whole loop compiled once per shape and length, and kept
        static = (int(length),) if isinstance(length, (int, np.integer)) else None
        if static is None:
            waves = self._iterate(s, real, imag, length)
        else:
            waves = self._compiled.run(b, self._iterate, s, real, imag, static=static, tf_xla=False)  # a loop
        if self.data_format == "channels_last":
            waves = np_.transpose(waves, (0, 2, 1))
        return b.cast(waves, self.compute_dtype)

    def _iterate(self, s, real, imag, length):
        """`n_iter` steps of librosa.griffinlim from phases (real, imag) → waveforms `(batch, channels, length)`."""
        np_, stft = self.backend.numpy, self._stft.layer
        rate = self.momentum / (1 + self.momentum)

        def step(_, state):  # tprev of librosa is previous here (0 at first)
            real, imag, previous_real, previous_imag = state
            rebuilt_real, rebuilt_imag = stft._spectrum(stft._overlap_add(real, imag, length))
            real, imag = rebuilt_real - rate * previous_real, rebuilt_imag - rate * previous_imag
            # angles / |angles| * s, and 0 where |angles| is 0 (librosa: angles / (|angles| + tiny) * s)
            power = real * real + imag * imag
            zero = power == 0
            gain = np_.where(zero, 0.0, s / np_.sqrt(np_.where(zero, 1.0, power)))
            return real * gain, imag * gain, rebuilt_real, rebuilt_imag

        state = (real, imag, np_.zeros_like(s), np_.zeros_like(s))
        real, imag, _, _ = self.backend.core.fori_loop(0, self.n_iter, step, state)  # one loop body under jit
        return stft._overlap_add(real, imag, length)

    def inverse_call(self, inputs):
        return self._magnitude_stft()._to_image(inputs)

    def _magnitude_stft(self):
        if self._analysis.layer is None:
            self._analysis.layer = STFTSplit(**self._stft_settings(), data_format=self.data_format, dtype=self.dtype_policy, representation="magnitude")
            self._analysis.layer.backend = self.backend
        return self._analysis.layer

    def _stft_settings(self):
        names = ("n_fft", "hop_length", "win_length", "window", "center", "pad_mode", "dft")
        return {name: getattr(self, name) for name in names}

    def inverse(self):
        """`STFTSplit(representation="magnitude")` with the same settings."""
        options = {"n_iter": self.n_iter, "momentum": self.momentum, "init": self.init, "seed": self.seed}
        return STFTSplit(**self._stft_settings(), representation="magnitude", data_format=self.data_format, dtype=self.dtype_policy, griffin_lim=options)

    def get_config(self):
        length = self._source.layer.samples if self._follows_source() else self.length
        return {
            **super().get_config(),
            **self._stft_settings(),
            "n_iter": self.n_iter,
            "momentum": self.momentum,
            "init": self.init,
            "seed": self.seed,
            "length": length,
            "data_format": self.data_format,
        }

"""The STFT trio: `STFTSplit` (waveforms → real spectrogram images), `InverseSTFTSplit` (back, exact),
`GriffinLim` (magnitude images back, an estimate)."""

import keras

from keras_spectro.functional.reconstruct import OPTIONS as GRIFFIN_LIM_OPTIONS
from keras_spectro.functional.reconstruct import griffin_lim_options, reconstruct
from keras_spectro.layers.base import _Unsaved
from keras_spectro.layers.stft_base import _ImageToWaveLayer, _STFTLayer


@keras.saving.register_keras_serializable(package="keras_spectro")
class STFTSplit(_STFTLayer):
    """Turns waveforms into real spectrogram images, the same numbers as `librosa.stft`.

    Channels_last `(batch, samples, channels)` → `(batch, bins, frames, 2*channels)`,
    channels interleaved `[A1, B1, A2, B2, ...]`, where (A, B) is (real, imaginary)
    or (magnitude, phase in (-π, π]). `bins = n_fft // 2 + 1`, `frames = 1 +
    samples // hop_length` with `center=True` and an even `n_fft`, as librosa, for every
    length.

    Args:
        n_fft: FFT size.
        hop_length: samples between frames (default `n_fft // 4`).
        win_length: window size, centred in `n_fft` (default `n_fft`).
        window: `"hann"`, `"hamming"`, `"blackman"` (periodic), `None` (rectangular)
            or an array of `win_length` values.
        center: pad `n_fft // 2` samples on both sides so frame t is centred at
            `t * hop_length`.
        pad_mode: the padding of `center`: `"constant"` (zeros) or `"reflect"`.
        representation: `"real_imag"`, `"mag_phase"`, or `"magnitude"`: `|STFT|`,
            one image channel per audio channel `(batch, bins, frames, channels)`,
            whose inverse is `GriffinLim` (an estimate: the phase is lost).
        data_format: `"channels_last"` or `"channels_first"` (default
            `keras.config.image_data_format()`).
        dft: `"fft"` (the backend's FFT) or `"matmul"` (real matrix products, no
            FFT or complex op: for export to TFLite and ONNX; same numbers).
        griffin_lim: with `"magnitude"`, options of the `GriffinLim` inverse
            (`n_iter`, `momentum`, `init`, `seed`), e.g. `{"n_iter": 64}`.
        **kwargs: `keras.layers.Layer`'s `name`, `dtype`, `trainable`.

    Example:

    ```python
    stft = STFTSplit(n_fft=1024, hop_length=256)
    images = stft(waves)                 # (8, 44100, 2) → (8, 513, 173, 4)
    waves_again = stft.inverse()(images) # (8, 44100, 2), exact
    ```
    """

    def __init__(
        self,
        n_fft=2048,
        *,
        hop_length=None,
        win_length=None,
        window="hann",
        center=True,
        pad_mode="constant",
        representation="real_imag",
        data_format=None,
        dft="fft",
        griffin_lim=None,
        **kwargs,
    ):
        super().__init__(
            n_fft,
            hop_length=hop_length,
            win_length=win_length,
            window=window,
            center=center,
            pad_mode=pad_mode,
            representation=representation,
            data_format=data_format,
            dft=dft,
            **kwargs,
        )
        if griffin_lim is not None and not isinstance(griffin_lim, dict):
            raise ValueError(
                f"griffin_lim takes a dict of GriffinLim options, e.g. {{'n_iter': 64}}; got {griffin_lim!r}."
            )
        if griffin_lim and self.representation != "magnitude":
            raise ValueError(f"griffin_lim options need representation='magnitude'; got {self.representation!r}.")
        unknown = set(griffin_lim or {}) - set(GRIFFIN_LIM_OPTIONS)
        if unknown:
            raise ValueError(f"griffin_lim takes {', '.join(GRIFFIN_LIM_OPTIONS)}; got {sorted(unknown)}.")
        griffin_lim_options(**(griffin_lim or {}))  # checked now
        self._griffin_lim_options = _Unsaved(dict(griffin_lim or {}))
        self._griffin_lim = _Unsaved(None)  # the GriffinLim that invert() uses, made when first needed

    def build(self, input_shape):
        self._check_waveform_shape(input_shape)
        channel_axis, samples_axis = self._axes(3)
        self.samples = self._ran_on = input_shape[samples_axis]
        self.input_spec = keras.layers.InputSpec(ndim=3, axes={channel_axis: input_shape[channel_axis]})

    def call(self, inputs):
        self._ran_on = inputs.shape[self._axes(3)[1]]  # None when known only at run time
        return self._to_image(inputs)

    def inverse_call(self, inputs):
        return self._waveform_from(inputs, self._inverse_length())

    def invert(self, outputs, input_shape):
        return self._waveform_from(outputs, input_shape[self._axes(3)[1]])

    def _waveform_from(self, images, length):
        if self.representation != "magnitude":
            return self._to_waveform(images, length)
        if self._griffin_lim.layer is None:
            self._griffin_lim.layer = self._new_inverse()
            self._griffin_lim.layer.backend = self.backend  # TensorFlow inside tf.data, as this layer
        return self._griffin_lim.layer.reconstruct(images, length)

    def _inverse_length(self):
        """The sample count of the latest input, which the inverses of this layer return."""
        if not self.built:
            return None
        if self._ran_on is None:
            raise ValueError(
                f"{self.name} ran on audio whose sample count is known only at run time, so its "
                f"inverse cannot tell how many samples to return. Use SpectrogramDomain for audio "
                f"of any length, or InverseSTFTSplit(length=...)."
            )
        return self._ran_on

    def compute_output_shape(self, input_shape):
        self._check_waveform_shape(input_shape)
        return self._waveform_to_image_shape(input_shape)

    def compute_inverse_output_shape(self, input_shape):
        if self.built:
            return self._image_to_waveform_shape(input_shape, self._ran_on, default=False)
        return self._image_to_waveform_shape(input_shape, None)

    def _new_inverse(self):
        if self.representation == "magnitude":
            return GriffinLim(**self._stft_config(), **self._griffin_lim_options.layer)
        return InverseSTFTSplit(**self._stft_config(), representation=self.representation)

    def inverse(self):
        """`InverseSTFTSplit` (`GriffinLim` for magnitudes) with the same settings, returning as many samples as this layer's latest input."""
        return self._new_inverse()._follow(self)

    def get_config(self):
        options = self._griffin_lim_options.layer
        return {**super().get_config(), **({"griffin_lim": dict(options)} if options else {})}


@keras.saving.register_keras_serializable(package="keras_spectro")
class InverseSTFTSplit(_ImageToWaveLayer):
    """Turns spectrogram images back into waveforms by exact overlap-add.

    The inverse of `STFTSplit` with the same settings: each frame's inverse FFT
    is windowed, overlap-added, and divided by the summed squared window at
    each sample, so `InverseSTFTSplit(...)(STFTSplit(...)(x))` equals `x` to
    float32 rounding. With `center=False` the samples before the first frame's
    centre and after the last one's are rebuilt from the frames that reach
    them (zero where none does), so they are exact only where the window is
    not small. Images whose frame count does not fit `length` are refused.

    Args:
        n_fft: FFT size.
        hop_length: samples between frames (default `n_fft // 4`).
        win_length: window size, centred in `n_fft` (default `n_fft`).
        window: the window of `STFTSplit`: `"hann"`, `"hamming"`, `"blackman"`,
            `None` or an array of `win_length` values.
        center: whether the frames were centred (`STFTSplit`'s `center`).
        pad_mode: `"constant"` or `"reflect"`, as in `STFTSplit`.
        representation: `"real_imag"` or `"mag_phase"` (magnitudes alone go to
            `GriffinLim`).
        length: the number of samples to return (default: all the frames cover, as
            librosa: `(frames - 1) * hop_length` with `center=True`, one more for an
            odd `n_fft`). At lengths whose last samples get little window weight the
            inverse divides by that weight as `librosa.istft` does (as accurate, not
            exact); `SpectrogramDomain` pads such signals and is exact at every length.
        data_format: `"channels_last"` or `"channels_first"` (default
            `keras.config.image_data_format()`).
        dft: `"fft"` or `"matmul"`, as in `STFTSplit`.
        **kwargs: `keras.layers.Layer`'s `name`, `dtype`, `trainable`.

    Example:

    ```python
    istft = InverseSTFTSplit(n_fft=1024, hop_length=256, length=44100)
    waves = istft(images)               # (8, 513, 173, 4) → (8, 44100, 2)
    ```
    """

    def __init__(
        self,
        n_fft=2048,
        *,
        hop_length=None,
        win_length=None,
        window="hann",
        center=True,
        pad_mode="constant",
        representation="real_imag",
        length=None,
        data_format=None,
        dft="fft",
        **kwargs,
    ):
        super().__init__(
            n_fft,
            hop_length=hop_length,
            win_length=win_length,
            window=window,
            center=center,
            pad_mode=pad_mode,
            representation=representation,
            length=length,
            data_format=data_format,
            dft=dft,
            **kwargs,
        )
        if self.representation == "magnitude":
            raise ValueError(
                "InverseSTFTSplit cannot rebuild audio from magnitudes alone (the phase is lost): use "
                "GriffinLim with the same settings, or STFTSplit(representation='magnitude').inverse()."
            )

    def call(self, inputs):
        return self._to_waveform(inputs, self._length())

    def inverse(self):
        return STFTSplit(**self._stft_config(), representation=self.representation)


@keras.saving.register_keras_serializable(package="keras_spectro")
class GriffinLim(_ImageToWaveLayer):
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
        n_fft: FFT size of the STFT that made the magnitudes.
        hop_length: samples between frames (default `n_fft // 4`).
        win_length: window size, centred in `n_fft` (default `n_fft`).
        window: the window of `STFTSplit`: `"hann"`, `"hamming"`, `"blackman"`,
            `None` or an array of `win_length` values.
        center: whether the frames are centred (`STFTSplit`'s `center`).
        pad_mode: `"constant"` or `"reflect"`, as in `STFTSplit`.
        n_iter: the number of iterations (each one inverse STFT and one STFT).
        momentum: librosa's momentum (0: the original Griffin-Lim).
        init: `"zeros"` (phase 0 everywhere: librosa's `init=None`) or
            `"random"` (uniform phases drawn with `seed`, the same every call;
            the numbers differ from librosa's and between backends).
        seed: the seed of `init="random"`.
        length: the samples to return (default: all the frames cover,
            `(frames - 1) * hop_length` with `center=True`, one more for an odd `n_fft`, as librosa).
        data_format: `"channels_last"` or `"channels_first"` `(batch, channels, bins, frames)`
            (default `keras.config.image_data_format()`).
        dft: `"fft"` or `"matmul"`, as in `STFTSplit`.
        **kwargs: `keras.layers.Layer`'s `name`, `dtype`, `trainable`.

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
        *,
        hop_length=None,
        win_length=None,
        window="hann",
        center=True,
        pad_mode="constant",
        n_iter=32,
        momentum=0.99,
        init="zeros",
        seed=0,
        length=None,
        data_format=None,
        dft="fft",
        **kwargs,
    ):
        representation = kwargs.pop("representation", "magnitude")
        if representation != "magnitude":
            raise ValueError(
                f"GriffinLim rebuilds waveforms from magnitudes only; got representation={representation!r}. "
                f"Images with phase go back exactly with InverseSTFTSplit."
            )
        super().__init__(
            n_fft,
            hop_length=hop_length,
            win_length=win_length,
            window=window,
            center=center,
            pad_mode=pad_mode,
            representation="magnitude",
            length=length,
            data_format=data_format,
            dft=dft,
            **kwargs,
        )
        self.n_iter, self.momentum, self.init, self.seed = griffin_lim_options(n_iter, momentum, init, seed)

    def call(self, inputs):
        return self.reconstruct(inputs, self._length())

    def reconstruct(self, magnitudes, length=None):
        """Waveforms of `length` samples (an int, a run-time scalar, or None: all the frames cover)."""
        b = self.backend

        def run(fn, *tensors, static):  # eager: the whole loop compiled once per shape, length and options
            return self._compiled.run(b, fn, *tensors, static=static, tf_xla=False)  # TensorFlow: no XLA for a loop

        options = self._options()
        return b.cast(
            reconstruct(b, magnitudes, self._stft, length, **options, data_format=self.data_format, run=run),
            self.compute_dtype,
        )

    def inverse(self):
        """`STFTSplit(representation="magnitude")` with the same settings."""
        return STFTSplit(**self._stft_config(), representation="magnitude", griffin_lim=self._options())

    def _options(self):
        return {name: getattr(self, name) for name in GRIFFIN_LIM_OPTIONS}

    def get_config(self):
        config = {**super().get_config(), **self._options()}
        config.pop("representation")
        return config

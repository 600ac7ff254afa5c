"""`STFTSplit` and `InverseSTFTSplit`: waveforms to real spectrogram images and back."""

import keras

from keras_spectro.functional.reconstruct import OPTIONS as GRIFFIN_LIM_OPTIONS
from keras_spectro.functional.reconstruct import griffin_lim_options
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
        n_fft: FFT size. hop_length: samples between frames (default `n_fft // 4`).
        win_length: window size, centred in `n_fft` (default `n_fft`).
        window: `"hann"`, `"hamming"`, `"blackman"` (periodic), `None` (rectangular)
            or an array of `win_length` values.
        center: pad `n_fft // 2` samples on both sides so frame t is centred at
            `t * hop_length`. pad_mode: `"constant"` (zeros) or `"reflect"`.
        representation: `"real_imag"`, `"mag_phase"`, or `"magnitude"`: `|STFT|`,
            one image channel per audio channel `(batch, bins, frames, channels)`,
            whose inverse is `GriffinLim` (an estimate: the phase is lost).
        data_format: `"channels_last"` or `"channels_first"`.
        dft: `"fft"` (the backend's FFT) or `"matmul"` (real matrix products, no
            FFT or complex op: for export to TFLite and ONNX; same numbers).
        griffin_lim: with `"magnitude"`, options of the `GriffinLim` inverse
            (`n_iter`, `momentum`, `init`, `seed`), e.g. `{"n_iter": 64}`.

    Example:

    ```python
    stft = STFTSplit(n_fft=1024, hop_length=256)
    images = stft(waves)                 # (8, 44100, 2) → (8, 513, 173, 4)
    waves_again = stft.inverse()(images) # (8, 44100, 2), exact
    ```
    """

    def __init__(self, *args, griffin_lim=None, **kwargs):
        super().__init__(*args, **kwargs)
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
            from keras_spectro.layers.griffin_lim import GriffinLim  # GriffinLim's inverse is an STFTSplit

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

    Args: those of `STFTSplit`, and `length`: the number of samples to return
    (default: all the frames cover, as librosa: `(frames - 1) * hop_length` with `center=True`, one
    more for an odd `n_fft`). At lengths whose last samples get little window weight the inverse
    divides by that weight as `librosa.istft` does (as accurate, not exact); `SpectrogramDomain`
    pads such signals and is exact at every length.

    Example:

    ```python
    istft = InverseSTFTSplit(n_fft=1024, hop_length=256, length=44100)
    waves = istft(images)               # (8, 513, 173, 4) → (8, 44100, 2)
    ```
    """

    def __init__(self, *args, length=None, **kwargs):
        super().__init__(*args, length=length, **kwargs)
        if self.representation == "magnitude":
            raise ValueError(
                "InverseSTFTSplit cannot rebuild audio from magnitudes alone (the phase is lost): use "
                "GriffinLim with the same settings, or STFTSplit(representation='magnitude').inverse()."
            )

    def call(self, inputs):
        return self._to_waveform(inputs, self._length())

    def inverse(self):
        return STFTSplit(**self._stft_config(), representation=self.representation)

"""`GriffinLim`: magnitude images back to waveforms, librosa's fast Griffin-Lim on the package's exact STFT."""

import keras

from keras_spectro.functional.reconstruct import OPTIONS, griffin_lim_options, reconstruct
from keras_spectro.layers.stft import STFTSplit
from keras_spectro.layers.stft_base import _ImageToWaveLayer


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
        n_fft, hop_length, win_length, window, center, pad_mode, dft: as in
            `STFTSplit`, the settings that made the magnitudes.
        n_iter: the number of iterations (each one inverse STFT and one STFT).
        momentum: librosa's momentum (0: the original Griffin-Lim).
        init: `"zeros"` (phase 0 everywhere: librosa's `init=None`) or
            `"random"` (uniform phases drawn with `seed`, the same every call;
            the numbers differ from librosa's and between backends).
        length: the samples to return (default: all the frames cover,
            `(frames - 1) * hop_length` with `center=True`, one more for an odd `n_fft`, as librosa).
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
        kwargs.pop("representation", None)
        super().__init__(
            n_fft,
            hop_length,
            win_length,
            window,
            center,
            pad_mode,
            "magnitude",
            data_format,
            dft,
            length=length,
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
        return {name: getattr(self, name) for name in OPTIONS}

    def get_config(self):
        config = {**super().get_config(), **self._options()}
        config.pop("representation")
        return config

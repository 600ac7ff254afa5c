"""What `STFTSplit`, `InverseSTFTSplit` and `GriffinLim` share: settings, shape checks, both directions."""

import keras

from keras_spectro.functional.common import check_choice, checked, is_known, positive_int, standardize_data_format
from keras_spectro.functional.compiled import EagerCompiled
from keras_spectro.functional.spectrum import (
    REPRESENTATIONS,
    image_to_waves,
    stft_settings,
    warn_if_longer,
    waves_to_image,
)
from keras_spectro.layers.base import InvertibleLayer, _Unsaved


class _STFTLayer(InvertibleLayer):
    """Settings (an `STFTSettings` in `self._stft`), shape checks and both directions over `keras_spectro.functional`."""

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
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_choice(representation, REPRESENTATIONS, "representation")
        self._stft = stft_settings(n_fft, hop_length, win_length, window, center, pad_mode, dft)
        for name, value in self._stft.config().items():
            setattr(self, name, value)
        self.representation = representation
        self.data_format = standardize_data_format(data_format)
        self._compiled = EagerCompiled()

    @property
    def bins(self):
        return self._stft.bins

    def frames_for(self, samples):
        """The number of frames for `samples` samples (None stays None)."""
        return self._stft.frames_for(samples)

    # --- shapes -----------------------------------------------------------
    def _axes(self, rank):
        if rank != 3 and rank != 4:
            raise ValueError(f"Expected rank 3 (waveform) or 4 (image); got rank {rank}.")
        channels_last = self.data_format == "channels_last"
        if rank == 3:
            return (2, 1) if channels_last else (1, 2)  # (channel axis, samples axis)
        return (3, 1, 2) if channels_last else (1, 2, 3)  # (channel, bins, frames)

    def _per_channel(self):
        """Image channels per audio channel: 1 for magnitudes, else 2."""
        return 1 if self.representation == "magnitude" else 2

    def _check_waveform_shape(self, shape):
        if len(shape) != 3:
            layout = (
                "(batch, samples, channels)" if self.data_format == "channels_last" else "(batch, channels, samples)"
            )
            raise ValueError(f"{type(self).__name__} expects waveforms of shape {layout}; got shape {tuple(shape)}.")
        channel_axis, samples_axis = self._axes(3)
        if shape[channel_axis] is None:
            raise ValueError(f"The channel axis of the waveform must be known; got shape {tuple(shape)}.")
        self._stft.check_samples(self.backend, shape[samples_axis])

    def _check_image_shape(self, shape, length):
        per_channel = self._per_channel()
        if len(shape) != 4:
            parts = "channels" if per_channel == 1 else "2*channels"
            layout = (
                f"(batch, bins, frames, {parts})"
                if self.data_format == "channels_last"
                else f"(batch, {parts}, bins, frames)"
            )
            raise ValueError(f"{type(self).__name__} expects images of shape {layout}; got shape {tuple(shape)}.")
        channel_axis, bins_axis, frames_axis = self._axes(4)
        if shape[bins_axis] != self.bins:
            raise ValueError(
                f"The image has {shape[bins_axis]} frequency bins but n_fft={self.n_fft} gives {self.bins}; got shape {tuple(shape)}."
            )
        if shape[channel_axis] is None or shape[channel_axis] % per_channel:
            what = (
                "a known number of channels"
                if per_channel == 1
                else "an even, known number of channels (2 per audio channel)"
            )
            raise ValueError(f"The image needs {what}; got shape {tuple(shape)}.")
        self._stft.check_frames(self.backend, shape[frames_axis], length, self.name)
        self._stft.check_samples(self.backend, length)

    def _waveform_to_image_shape(self, shape):
        channel_axis, samples_axis = self._axes(3)
        channels, frames = self._per_channel() * shape[channel_axis], self.frames_for(shape[samples_axis])
        if self.data_format == "channels_last":
            return (shape[0], self.bins, frames, channels)
        return (shape[0], channels, self.bins, frames)

    def _image_to_waveform_shape(self, shape, length, default=True):
        """`default`: without a length, the samples the frames cover; else unknown."""
        channel_axis, _, frames_axis = self._axes(4)
        frames = shape[frames_axis]
        if default and length is None and frames is not None:
            length = self._stft.default_length(frames)
        channels = shape[channel_axis] // self._per_channel()
        return (shape[0], length, channels) if self.data_format == "channels_last" else (shape[0], channels, length)

    # --- the two directions ----------------------------------------------
    def _to_image(self, waves):
        b = self.backend
        shape = b.core.shape(waves)
        checks = self._stft.check_samples(b, shape[self._axes(3)[1]])
        warn_if_longer(self._stft, shape[self._axes(3)[1]])
        if is_known(shape[0]) and shape[0] == 0:  # FFTs of nothing fail on some backends
            return b.numpy.zeros(self._waveform_to_image_shape(shape), self.compute_dtype)
        image = self._compiled.run(b, waves_to_image, waves, static=(self._stft, self.representation, self.data_format))
        return b.cast(checked(b, image, checks), self.compute_dtype)

    def _to_waveform(self, images, length):
        """Images → `length` samples (None: all the frames cover); `length` may be a run-time tensor."""
        b = self.backend
        shape = b.core.shape(images)
        channels, _, frames = (shape[axis] for axis in self._axes(4))
        checks = self._stft.check_frames(b, frames, length, self.name)  # a default length fits by definition
        length = self._stft.default_length(frames) if length is None else length
        checks += self._stft.check_samples(b, length)
        if is_known(shape[0]) and shape[0] == 0:
            channels //= self._per_channel()
            shape = (0, length, channels) if self.data_format == "channels_last" else (0, channels, length)
            return b.numpy.zeros(shape, self.compute_dtype)
        waves = self._waveform_math(images, length)
        return b.cast(checked(b, waves, checks), self.compute_dtype)

    def _waveform_math(self, images, length):
        if is_known(length):  # eager: compiled once per input signature and length
            static = (self._stft, self.representation, int(length), self.data_format)
            return self._compiled.run(self.backend, image_to_waves, images, static=static)
        return image_to_waves(self.backend, images, self._stft, self.representation, length, self.data_format)

    def _stft_config(self):
        """The STFT settings and the layout, to build the layer of the other direction."""
        return {**self._stft.config(), "data_format": self.data_format, "dtype": self.dtype_policy}

    def get_config(self):
        return {
            **super().get_config(),
            **self._stft.config(),
            "representation": self.representation,
            "data_format": self.data_format,
        }


class _ImageToWaveLayer(_STFTLayer):
    """An image → waveform layer (`InverseSTFTSplit`, `GriffinLim`): a fixed `length`, or the length of the
    `STFTSplit` whose `inverse()` it is (its latest input's sample count)."""

    def __init__(self, n_fft=2048, *, length=None, **kwargs):
        super().__init__(n_fft, **kwargs)
        self.length = None if length is None else positive_int(length, "length")
        self._source = None

    def _follow(self, stft):
        """Returns self, made to return as many samples as `stft`'s latest input (when no `length` is set)."""
        self._source = _Unsaved(stft)
        return self

    def _follows_source(self):
        return self.length is None and self._source is not None and self._source.layer.built

    def _length(self):
        return self._source.layer._inverse_length() if self._follows_source() else self.length

    def build(self, input_shape):
        if not self._follows_source():
            self._check_image_shape(input_shape, self.length)
        channel_axis, bins_axis, _ = self._axes(4)
        self.input_spec = keras.layers.InputSpec(
            ndim=4, axes={channel_axis: input_shape[channel_axis], bins_axis: self.bins}
        )

    def compute_output_shape(self, input_shape):
        if self._follows_source():
            return self._source.layer.compute_inverse_output_shape(input_shape)
        self._check_image_shape(input_shape, self.length)
        return self._image_to_waveform_shape(input_shape, self.length)

    def compute_inverse_output_shape(self, input_shape):
        return self._waveform_to_image_shape(input_shape)

    def inverse_call(self, inputs):
        return self._to_image(inputs)

    def get_config(self):
        length = self._source.layer.samples if self._follows_source() else self.length
        return {**super().get_config(), "length": length}

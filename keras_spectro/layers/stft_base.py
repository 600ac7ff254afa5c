"""`_STFTLayer`: the settings, checks and both directions that `STFTSplit`, `InverseSTFTSplit` and `GriffinLim` share."""

import numpy as np

from keras_spectro.layers.base import InvertibleLayer, positive_int, standardize_data_format
from keras_spectro.layers.compiled import EagerCompiled
from keras_spectro.layers.stft_math import MIN_WINDOW_SUM, TRANSFORMS, WindowSums, make_window, overlap_add

REPRESENTATIONS = ("real_imag", "mag_phase", "magnitude")
PAD_MODES = ("constant", "reflect")


class _STFTLayer(InvertibleLayer):
    """Settings, checks and both directions shared by `STFTSplit` and `InverseSTFTSplit`."""

    def __init__(
        self,
        n_fft=2048,
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
        if isinstance(window, (list, tuple, np.ndarray)) and win_length is None:
            win_length = len(window)
        self.n_fft = positive_int(n_fft, "n_fft")
        self.hop_length = positive_int(max(1, n_fft // 4) if hop_length is None else hop_length, "hop_length")
        self.win_length = positive_int(n_fft if win_length is None else win_length, "win_length")
        if self.win_length > self.n_fft:
            raise ValueError(f"win_length ({win_length}) must not exceed n_fft ({n_fft}).")
        if pad_mode not in PAD_MODES:
            raise ValueError(f"pad_mode must be one of {PAD_MODES}; got {pad_mode!r}.")
        if dft not in TRANSFORMS:
            raise ValueError(f"dft must be one of {sorted(TRANSFORMS)}; got {dft!r}.")
        if representation not in REPRESENTATIONS:
            raise ValueError(f"representation must be one of {REPRESENTATIONS}; got {representation!r}.")
        self.window = window if window is None or isinstance(window, str) else np.asarray(window).tolist()
        self.center = bool(center)
        self.pad_mode = pad_mode
        self.representation = representation
        self.data_format = standardize_data_format(data_format)
        self.dft = dft
        self._window = make_window(window, self.win_length, self.n_fft)
        self._transform = TRANSFORMS[dft](self._window, self.n_fft, self.hop_length)
        self._window_sums = WindowSums(self._window, self.hop_length)
        self._checked_samples = set()
        self._compiled = EagerCompiled()
        self._check_covered(self._window_sums.steady(), "in the middle of the signal")

    @property
    def bins(self):
        return self.n_fft // 2 + 1

    def frames_for(self, samples):
        """The number of frames for `samples` samples (None stays None)."""
        if samples is None:
            return None
        padded = samples + 2 * (self.n_fft // 2) if self.center else samples
        return 1 + (padded - self.n_fft) // self.hop_length

    def _default_length(self, frames):
        """The samples that `frames` frames cover when no `length` is given."""
        return (frames - 1) * self.hop_length + (0 if self.center else self.n_fft)

    # --- checks ---------------------------------------------------------
    def _check_covered(self, wss, where):
        low = float(np.min(wss)) if wss.size else 0.0
        if low < MIN_WINDOW_SUM * self._window_sums.window_sq.max():
            raise ValueError(
                f"hop_length={self.hop_length} is too large for this window (win_length="
                f"{self.win_length}, n_fft={self.n_fft}): samples {where} get almost no window "
                f"weight, so the inverse cannot exist. Use a smaller hop_length."
            )

    def _check_samples(self, samples):
        """Refuses a known sample count that the inverse could not bring back."""
        if not isinstance(samples, (int, np.integer)) or samples in self._checked_samples:
            return
        if not self.center and samples < self.n_fft:
            raise ValueError(
                f"n_fft={self.n_fft} is larger than the signal ({samples} samples) with center=False."
            )
        if self.center and self.pad_mode == "reflect" and samples <= self.n_fft // 2:
            raise ValueError(
                f"pad_mode='reflect' needs more than n_fft // 2 = {self.n_fft // 2} samples; got {samples}."
            )
        frames = self.frames_for(samples)
        wss = self._window_sums.sums(frames)
        if self.center:
            exact = np.pad(wss, (0, samples))[self.n_fft // 2 : self.n_fft // 2 + samples]
        else:
            exact = wss[self.n_fft // 2 : (frames - 1) * self.hop_length + self.n_fft // 2 + 1]
        self._check_covered(exact, f"of a {samples}-sample signal")
        if len(self._checked_samples) > 1000:
            self._checked_samples.clear()
        self._checked_samples.add(samples)

    def _check_frames(self, frames, length):
        if isinstance(frames, (int, np.integer)) and isinstance(length, (int, np.integer)) and self.frames_for(length) != frames:
            raise ValueError(
                f"{self.name}: images of {frames} frames cannot become {length} samples, which "
                f"take {self.frames_for(length)} frames (n_fft={self.n_fft}, hop_length={self.hop_length}, "
                f"center={self.center}). For audio of any length use SpectrogramDomain; "
                f"InverseSTFTSplit(length=None) returns all the samples the frames cover."
            )

    def _axes(self, rank):
        if rank != 3 and rank != 4:
            raise ValueError(f"Expected rank 3 (waveform) or 4 (image); got rank {rank}.")
        channels_last = self.data_format == "channels_last"
        if rank == 3:
            return (2, 1) if channels_last else (1, 2)  # (channel axis, samples axis)
        return (3, 1, 2) if channels_last else (1, 2, 3)  # (channel, bins, frames)

    def _check_waveform_shape(self, shape):
        if len(shape) != 3:
            layout = "(batch, samples, channels)" if self.data_format == "channels_last" else "(batch, channels, samples)"
            raise ValueError(f"{type(self).__name__} expects waveforms of shape {layout}; got shape {tuple(shape)}.")
        channel_axis, samples_axis = self._axes(3)
        if shape[channel_axis] is None:
            raise ValueError(f"The channel axis of the waveform must be known; got shape {tuple(shape)}.")
        self._check_samples(shape[samples_axis])

    def _check_image_shape(self, shape, length):
        if len(shape) != 4:
            layout = "(batch, bins, frames, 2*channels)" if self.data_format == "channels_last" else "(batch, 2*channels, bins, frames)"
            raise ValueError(f"{type(self).__name__} expects images of shape {layout}; got shape {tuple(shape)}.")
        channel_axis, bins_axis, frames_axis = self._axes(4)
        if shape[bins_axis] != self.bins:
            raise ValueError(
                f"The image has {shape[bins_axis]} frequency bins but n_fft={self.n_fft} gives {self.bins}; got shape {tuple(shape)}."
            )
        if shape[channel_axis] is None or shape[channel_axis] % 2:
            raise ValueError(f"The image needs an even, known number of channels (2 per audio channel); got shape {tuple(shape)}.")
        self._check_frames(shape[frames_axis], length)
        self._check_samples(length)

    def _per_channel(self):
        """Image channels per audio channel: 1 for magnitudes, else 2."""
        return 1 if self.representation == "magnitude" else 2

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
            length = self._default_length(frames)
        channels = shape[channel_axis] // self._per_channel()
        return (shape[0], length, channels) if self.data_format == "channels_last" else (shape[0], channels, length)

    # --- the two directions ----------------------------------------------
    def _to_image(self, waves):
        shape = self.backend.core.shape(waves)
        self._check_samples(shape[self._axes(3)[1]])
        if isinstance(shape[0], int) and shape[0] == 0:  # FFTs of nothing fail on some backends
            return self.backend.numpy.zeros(self._waveform_to_image_shape(shape), self.compute_dtype)
        return self._compiled.run(self.backend, self._image_math, waves)

    def _image_math(self, waves):
        """Waveforms → images, stateless: compiled once per input signature when called eagerly."""
        np_, b = self.backend.numpy, self.backend
        x = b.cast(waves, "float32")
        if self.data_format == "channels_last":
            x = np_.transpose(x, (0, 2, 1))
        batch, channels, _ = b.core.shape(x)
        if b.name == "torch" and self.dft == "fft" and self.representation == "real_imag":
            padded = x
            if self.center:
                half = self.n_fft // 2
                padded = np_.pad(x, ((0, 0), (0, 0), (half, half)), mode=self.pad_mode)
            image = self._transform.torch_image(padded, self.data_format == "channels_last")
            if image is not None:
                return b.cast(image, self.compute_dtype)
        real, imag = self._spectrum(x)
        if self.representation == "magnitude":  # as mag_phase below, one channel per audio channel
            power = real * real + imag * imag
            silent = power == 0
            magnitude = np_.where(silent, 0.0, np_.sqrt(np_.where(silent, 1.0, power)))
            order = (0, 3, 2, 1) if self.data_format == "channels_last" else (0, 1, 3, 2)
            return b.cast(np_.transpose(magnitude, order), self.compute_dtype)
        if self.representation == "mag_phase":
            # exact silence gets magnitude and phase 0 with 0 gradient; NaN and inf pass through
            power = real * real + imag * imag
            silent = power == 0
            real, imag = (
                np_.where(silent, 0.0, np_.sqrt(np_.where(silent, 1.0, power))),
                np_.arctan2(np_.where(silent, 0.0, imag), np_.where(silent, 1.0, real)),
            )
        frames = b.core.shape(real)[2]  # (batch, channels, frames, bins)
        last = self.data_format == "channels_last"
        if b.name == "torch":  # eager torch: transposing each part, then stacking, is one strided pass fewer
            parts = [np_.transpose(part, (0, 3, 2, 1) if last else (0, 1, 3, 2)) for part in (real, imag)]
            image = np_.stack(parts, axis=-1 if last else 2)
        else:  # under XLA (every call on JAX, eager TensorFlow): stacking, then one transpose, is faster
            image = np_.transpose(np_.stack([real, imag], axis=-1), (0, 3, 2, 1, 4) if last else (0, 1, 4, 3, 2))
        shape = (batch, self.bins, frames, 2 * channels) if last else (batch, 2 * channels, self.bins, frames)
        image = np_.reshape(image, shape)
        return b.cast(image, self.compute_dtype)

    def _to_waveform(self, images, length):
        """Images → `length` samples (None: all the frames cover); `length` may be a run-time tensor."""
        shape = self.backend.core.shape(images)
        channels, _, frames = (shape[axis] for axis in self._axes(4))
        length = self._default_length(frames) if length is None else length
        self._check_frames(frames, length)
        self._check_samples(length)
        if isinstance(shape[0], int) and shape[0] == 0:
            shape = (0, length, channels // 2) if self.data_format == "channels_last" else (0, channels // 2, length)
            return self.backend.numpy.zeros(shape, self.compute_dtype)
        if isinstance(length, (int, np.integer)):
            return self._compiled.run(self.backend, self._waveform_math, images, static=(int(length),))
        return self._waveform_math(images, length)

    def _waveform_math(self, images, length):
        """Images → waveforms, stateless: compiled once per input signature and length when called eagerly."""
        np_, b = self.backend.numpy, self.backend
        x = b.cast(images, "float32")
        if self.data_format == "channels_last":
            batch, bins, frames, channels = b.core.shape(x)
            x = np_.transpose(np_.reshape(x, (batch, bins, frames, channels // 2, 2)), (0, 3, 2, 1, 4))
        else:
            batch, channels, bins, frames = b.core.shape(x)
            x = np_.transpose(np_.reshape(x, (batch, channels // 2, 2, bins, frames)), (0, 1, 4, 3, 2))
        first, second = x[..., 0], x[..., 1]  # (batch, channels, frames, bins)
        if b.name == "torch" and self.dft == "fft" and isinstance(length, (int, np.integer)):
            start = self.n_fft // 2 if self.center else 0
            reciprocal = self._window_sums.reciprocal(np, frames)
            signal = self._transform.torch_inverse(
                first, second, self.representation == "mag_phase", reciprocal, start, int(length), self.data_format == "channels_last"
            )
            if signal is not None:
                if self.data_format == "channels_last":
                    signal = np_.transpose(signal, (0, 2, 1))
                return b.cast(signal, self.compute_dtype)
        if self.representation == "mag_phase":
            first, second = first * np_.cos(second), first * np_.sin(second)
        signal = self._overlap_add(first, second, length)
        if self.data_format == "channels_last":
            signal = np_.transpose(signal, (0, 2, 1))
        return b.cast(signal, self.compute_dtype)

    # the transform itself, on (real, imag) parts: also Griffin-Lim's, which iterates them
    def _spectrum(self, x):
        """float32 waveforms `(batch, channels, samples)` → real, imag `(batch, channels, frames, bins)`."""
        if self.center:
            half = self.n_fft // 2
            x = self.backend.numpy.pad(x, ((0, 0), (0, 0), (half, half)), mode=self.pad_mode)
        return self._transform.stft(self.backend, x)

    def _overlap_add(self, real, imag, length):
        """real, imag `(batch, channels, frames, bins)` → float32 waveforms `(batch, channels, length)`."""
        np_, b = self.backend.numpy, self.backend
        batch, channels, frames, _ = b.core.shape(real)
        segments = self._transform.windowed_irfft(b, real, imag)
        signal = overlap_add(np_, np_.reshape(segments, (-1, frames, self.n_fft)), frames, self.hop_length)
        signal = np_.multiply(signal, self._window_sums.reciprocal(np_, frames))
        if self.center:
            start = self.n_fft // 2
        else:  # no frame reaches the last (at most hop_length - 1) samples: they are 0
            start, signal = 0, np_.pad(signal, ((0, 0), (0, self.hop_length)))
        return np_.reshape(signal[:, start : start + length], (batch, channels, length))

    def get_config(self):
        return {
            **super().get_config(),
            "n_fft": self.n_fft,
            "hop_length": self.hop_length,
            "win_length": self.win_length,
            "window": self.window,
            "center": self.center,
            "pad_mode": self.pad_mode,
            "representation": self.representation,
            "data_format": self.data_format,
            "dft": self.dft,
        }

    def _settings(self):
        config = self.get_config()
        return {k: config[k] for k in ("n_fft", "hop_length", "win_length", "window", "center", "pad_mode", "representation", "data_format", "dft", "dtype")}


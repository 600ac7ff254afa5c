"""`AudioPadding`: brings every waveform to a fixed number of samples."""

import keras

from keras_spectro.functional.common import check_choice, positive_int, standardize_data_format
from keras_spectro.layers.base import InvertibleLayer

MODES = ("right", "left", "center")


def padding_widths(samples, length, mode, maximum=max):
    """Zeros to add (before, after) so that `samples` reach `length` in `mode`.

    Example: `padding_widths(3, 6, "center")` → `(1, 2)`.
    """
    missing = maximum(length - samples, 0)
    before = {"right": 0, "left": missing, "center": missing // 2}[mode]
    return before, missing - before


@keras.saving.register_keras_serializable(package="keras_spectro")
class AudioPadding(InvertibleLayer):
    """Zero-pads or cuts waveforms to `length` samples.

    `"right"`: pad at the end, keep the first `length` samples; `"left"`: pad at
    the start, keep the last `length` samples; `"center"`: pad both sides (the
    odd sample at the end), keep the first `length` samples. The inverse is the
    identity: what padding adds or cutting drops does not come back. Inside a
    `SpectrogramDomain` the output gets the input's sample count back (the
    padding removed, what was cut returned as zeros).

    For another padding, override `pad(inputs, before, after)`, which adds
    `before`/`after` samples on `self.samples_axis`.

    Args:
        length: samples out.
        mode: where the zeros go (or the samples are cut): `"right"`, `"left"` or `"center"`.
        data_format: `"channels_last"` `(batch, samples, channels)` or
            `"channels_first"` `(batch, channels, samples)`.
        **kwargs: `keras.layers.Layer`'s `name`, `dtype`, `trainable`.

    Example:

    ```python
    AudioPadding(44100)(waves)          # (8, 30000, 2) → (8, 44100, 2)

    @keras.saving.register_keras_serializable()
    class ReflectPadding(AudioPadding):
        def pad(self, inputs, before, after):
            widths = [(0, 0)] * 3
            widths[self.samples_axis] = (before, after)
            return self.backend.numpy.pad(inputs, widths, mode="reflect")
    ```
    """

    def __init__(self, length, mode="right", data_format=None, **kwargs):
        super().__init__(**kwargs)
        length = positive_int(length, "length")
        check_choice(mode, MODES, "mode")
        self.length = length
        self.mode = mode
        self.data_format = standardize_data_format(data_format)
        self.samples_axis = 1 if self.data_format == "channels_last" else 2

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(
                f"AudioPadding expects waveforms of rank 3 (batch, samples, channels); got shape {tuple(input_shape)}."
            )

    def pad(self, inputs, before, after):
        """Zero-pads `before` and `after` samples on the samples axis."""
        widths = [(0, 0)] * 3
        widths[self.samples_axis] = (before, after)
        return self.backend.numpy.pad(inputs, widths)

    def call(self, inputs):
        samples = self.backend.core.shape(inputs)[self.samples_axis]
        maximum = max if isinstance(samples, int) else self.backend.numpy.maximum  # dynamic in tf.data
        padded = self.pad(inputs, *padding_widths(samples, self.length, self.mode, maximum))
        kept = slice(-self.length, None) if self.mode == "left" else slice(0, self.length)
        return padded[(slice(None),) * self.samples_axis + (kept,)]

    def inverse_call(self, inputs):
        return inputs

    def invert(self, outputs, input_shape):
        """Back to the input's sample count: padding removed, what was cut back as zeros."""
        samples = input_shape[self.samples_axis]
        maximum = max if isinstance(samples, int) else self.backend.numpy.maximum
        before, _ = padding_widths(samples, self.length, self.mode, maximum)
        cut = maximum(samples - self.length, 0)
        widths = [(0, 0)] * 3
        widths[self.samples_axis] = (cut, 0) if self.mode == "left" else (0, cut)
        restored = self.backend.numpy.pad(outputs, widths)
        return restored[(slice(None),) * self.samples_axis + (slice(before, before + samples),)]

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        shape[self.samples_axis] = self.length
        return tuple(shape)

    def get_config(self):
        return {**super().get_config(), "length": self.length, "mode": self.mode, "data_format": self.data_format}

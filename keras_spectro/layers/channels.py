"""`ChannelIndexer`: reorders the channels of waveforms or images."""

import keras
import numpy as np

from keras_spectro.functional.common import channel_axis, standardize_data_format
from keras_spectro.layers.base import InvertibleLayer


def magnitude_phase_order(channels, per_channel=2):
    """The order that groups the first member of every audio channel, then the second, ...

    `channels` audio channels, each with `per_channel` interleaved image channels.

    Example: `magnitude_phase_order(3)` → `[0, 2, 4, 1, 3, 5]` (all magnitudes, then all phases).
    """
    return [k * per_channel + member for member in range(per_channel) for k in range(channels)]


@keras.saving.register_keras_serializable(package="keras_spectro")
class ChannelIndexer(InvertibleLayer):
    """Reorders channels: `y[..., i] = x[..., order[i]]` on the channel axis.

    `order` is a permutation of `range(channels)`; the inverse is
    `ChannelIndexer(argsort(order))`.

    Args:
        order: a 1-D integer permutation.
        data_format: the channel axis is last (`"channels_last"`) or axis 1.
        **kwargs: `keras.layers.Layer`'s `name`, `dtype`, `trainable`.

    Example:

    ```python
    group = ChannelIndexer(magnitude_phase_order(2))  # [A1, B1, A2, B2] → [A1, A2, B1, B2]
    images_again = group.inverse()(group(images))
    ```
    """

    def __init__(self, order, data_format=None, **kwargs):
        super().__init__(**kwargs)
        values = np.asarray(order)
        if values.ndim != 1 or values.size == 0 or not np.issubdtype(values.dtype, np.integer):
            raise ValueError(f"order must be a non-empty 1-D list of integers; got {order!r}.")
        if sorted(values.tolist()) != list(range(values.size)):
            raise ValueError(f"order must be a permutation of range({values.size}); got {values.tolist()}.")
        self.order = values.tolist()
        self._inverse_order = np.argsort(values).tolist()
        self.data_format = standardize_data_format(data_format)

    def _channel_axis(self, rank):
        return channel_axis(rank, self.data_format)

    def build(self, input_shape):
        axis = self._channel_axis(len(input_shape))
        if input_shape[axis] != len(self.order):
            raise ValueError(
                f"ChannelIndexer's order has {len(self.order)} entries but the input has {input_shape[axis]} channels (shape {tuple(input_shape)})."
            )
        self.input_spec = keras.layers.InputSpec(ndim=len(input_shape), axes={axis: len(self.order)})

    def call(self, inputs):
        return self.backend.numpy.take(inputs, self.order, axis=self._channel_axis(len(inputs.shape)))

    def inverse_call(self, inputs):
        return self.backend.numpy.take(inputs, self._inverse_order, axis=self._channel_axis(len(inputs.shape)))

    def inverse(self):
        return ChannelIndexer(self._inverse_order, data_format=self.data_format, dtype=self.dtype_policy)

    def get_config(self):
        return {**super().get_config(), "order": self.order, "data_format": self.data_format}

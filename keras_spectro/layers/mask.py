"""`ApplyMask`: multiplies spectrogram images by a network's masks, for one or more sources."""

import keras

from keras_spectro.functional.common import (
    channel_axis,
    check_choice,
    is_tf_tensor,
    positive_int,
    standardize_data_format,
)
from keras_spectro.layers.base import SpectroLayer

KINDS = ("magnitude", "complex")
MASKED_REPRESENTATIONS = ("mag_phase", "real_imag")


def apply_mask(b, images, masks, kind, representation, sources, data_format):
    """images `[A1, B1, A2, B2, ...]` and masks → `sources *` the image channels, source-major (float32).

    `b`: a Keras backend. `kind="magnitude"`: masks hold `sources * channels` channels (one per
    audio channel, source-major) multiplying the magnitudes (mag_phase: the even channels;
    real_imag: both parts). `kind="complex"` (real_imag): `sources * 2 * channels` channels,
    interleaved like the images, multiplied as complex numbers.
    """
    np_ = b.numpy
    x, m = b.cast(images, "float32"), b.cast(masks, "float32")
    shape = b.core.shape(x)
    last = data_format == "channels_last"
    channels = (shape[-1] if last else shape[1]) // 2
    spatial = tuple(shape[1:3]) if last else tuple(shape[2:])
    member = -1 if last else 3  # the axis of (A, B) after the reshapes below
    per_channel = 2 if kind == "complex" else 1
    if last:  # (batch, bins, frames, source, channel, member)
        x = np_.reshape(x, (shape[0], *spatial, 1, channels, 2))
        m = np_.reshape(m, (shape[0], *spatial, sources, channels, per_channel))
    else:  # (batch, source, channel, member, bins, frames)
        x = np_.reshape(x, (shape[0], 1, channels, 2, *spatial))
        m = np_.reshape(m, (shape[0], sources, channels, per_channel, *spatial))
    first, second = np_.split(x, 2, axis=member)
    if kind == "complex":
        real, imag = np_.split(m, 2, axis=member)
        out = np_.concatenate([first * real - second * imag, first * imag + second * real], axis=member)
    elif representation == "mag_phase":
        out = np_.concatenate([first * m, second + np_.zeros_like(m)], axis=member)  # the phases, once per source
    else:
        out = x * m
    out_channels = sources * 2 * channels
    return np_.reshape(out, (shape[0], *spatial, out_channels) if last else (shape[0], out_channels, *spatial))


@keras.saving.register_keras_serializable(package="keras_spectro")
class ApplyMask(SpectroLayer):
    """Multiplies spectrogram images by masks: called on `[images, masks]`, returns the masked images.

    Images `(batch, bins, frames, 2 * channels)` (channels_first: `(batch, 2 * channels,
    bins, frames)`), interleaved `[A1, B1, A2, B2, ...]` as `STFTSplit` makes them.
    - `kind="magnitude"`: masks hold `sources * channels` channels (one per audio channel,
      source-major) that multiply the magnitudes: on mag_phase images the magnitude
      channels (phases kept), on real_imag images both parts.
    - `kind="complex"` (real_imag images only): masks hold `sources * 2 * channels` channels,
      interleaved (real, imaginary) like the images, multiplied as complex numbers.
    Output: `sources *` the image channels, source-major (the layout `SpectrogramDomain(...,
    sources=K)` expects). Not invertible (a mask may be 0); runs in `tf.data` on every backend.

    Args:
        kind: `"magnitude"` (real masks of the magnitudes) or `"complex"` (complex masks,
            real_imag images only).
        representation: that of the images, `"mag_phase"` or `"real_imag"` (as `STFTSplit`'s).
        sources: the number of sources whose masks the masks hold, source-major.
        data_format: `"channels_last"` or `"channels_first"`.
        **kwargs: `keras.layers.Layer`'s `name`, `dtype`, `trainable`.

    Example:

    ```python
    images = keras.Input((257, None, 4))                               # stereo mag_phase images
    masks = keras.layers.Conv2D(2, 3, padding="same", activation="sigmoid")(images)
    network = keras.Model(images, ApplyMask()([images, masks]))       # (batch, 257, frames, 4)
    ```
    """

    def __init__(self, kind="magnitude", representation="mag_phase", sources=1, data_format=None, **kwargs):
        super().__init__(**kwargs)
        check_choice(kind, KINDS, "kind")
        check_choice(representation, MASKED_REPRESENTATIONS, "representation")
        if kind == "complex" and representation != "real_imag":
            raise ValueError("kind='complex' multiplies (real, imaginary) pairs: it needs representation='real_imag'.")
        self.kind, self.representation = kind, representation
        self.sources = positive_int(sources, "sources")
        self.data_format = standardize_data_format(data_format)

    def __call__(self, inputs, **kwargs):
        if (
            not self.built
            and keras.backend.backend() != "tensorflow"
            and isinstance(inputs, (list, tuple))
            and any(map(is_tf_tensor, inputs))
        ):
            self.build([tuple(x.shape) for x in inputs])  # inside tf.data, other backends see no shapes
        return super().__call__(inputs, **kwargs)

    def _channels(self, input_shape):
        """The audio channel count of `[images_shape, masks_shape]`, checked."""
        if (
            not isinstance(input_shape, (list, tuple))
            or len(input_shape) != 2
            or not all(isinstance(s, (list, tuple)) for s in input_shape)
        ):
            raise ValueError(f"ApplyMask is called on [images, masks]; got input shape {input_shape!r}.")
        images, masks = (tuple(s) for s in input_shape)
        axis = channel_axis(len(images), self.data_format)
        layout = (
            "(batch, bins, frames, channels)"
            if self.data_format == "channels_last"
            else "(batch, channels, bins, frames)"
        )
        if len(images) != 4 or len(masks) != 4:
            raise ValueError(f"ApplyMask expects rank-4 images and masks {layout}; got shapes {images} and {masks}.")
        if images[axis] is None or images[axis] % 2:
            raise ValueError(
                f"ApplyMask expects images with an even, known channel count (interleaved pairs); got shape {images}."
            )
        channels = images[axis] // 2
        expected = self.sources * channels * (2 if self.kind == "complex" else 1)
        if masks[axis] != expected:
            what = (
                "sources * 2 * channels (interleaved real, imaginary)"
                if self.kind == "complex"
                else "sources * channels (one per audio channel)"
            )
            raise ValueError(
                f"ApplyMask(kind={self.kind!r}, sources={self.sources}): images with {images[axis]} channels ({channels} audio "
                f"channels) need masks with {what} = {expected} channels; got masks of shape {masks}."
            )
        spatial = slice(1, 3) if self.data_format == "channels_last" else slice(2, 4)
        for a, m in zip(images[spatial], masks[spatial]):
            if a is not None and m is not None and a != m:
                raise ValueError(
                    f"ApplyMask: images and masks must have the same bins and frames; got shapes {images} and {masks}."
                )
        return channels

    def build(self, input_shape):
        self._channels(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        channels = self._channels(input_shape)
        shape = list(input_shape[0])
        shape[channel_axis(len(shape), self.data_format)] = self.sources * 2 * channels
        return tuple(shape)

    def call(self, inputs):
        images, masks = inputs
        out = apply_mask(self.backend, images, masks, self.kind, self.representation, self.sources, self.data_format)
        return self.backend.cast(out, self.compute_dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "kind": self.kind,
            "representation": self.representation,
            "sources": self.sources,
            "data_format": self.data_format,
        }

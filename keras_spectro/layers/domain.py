"""`SpectrogramDomain`: waveforms → images → a network → waveforms of the same shape."""

import keras

from keras_spectro.functional.common import checked, is_known, is_runtime, standardize_data_format
from keras_spectro.layers.base import InvertibleLayer, SpectroLayer
from keras_spectro.layers.pipeline import SpectrogramPipeline


@keras.saving.register_keras_serializable(package="keras_spectro")
class SpectrogramDomain(SpectroLayer):
    """Runs a network in spectrogram space: audio in, audio of exactly the same shape out.

    Maps a waveform batch through `pipeline`, then `network`, then `pipeline`
    backwards, for any sample count >= 1, known when the model is built or
    only at run time (`keras.Input((None, channels))`). The pipeline is held
    once: the way back always uses the statistics of the way forward, also
    after saving and loading, `copy.deepcopy`, pickling, and `clone_model` +
    `set_weights`. With `AudioPadding` in the pipeline the output still has
    the input's sample count: what the padding cut comes back as zeros.

    Args:
        pipeline: a `SpectrogramPipeline` (or a list of `InvertibleLayer`s)
            from waveforms to images.
        network: a Keras layer or model from images to images of the same
            shape (for any length, one that takes any frame count); None: the identity.
        data_format: the waveform layout, `"channels_last"` `(batch, samples,
            channels)` or `"channels_first"` `(batch, channels, samples)`.

    Example:

    ```python
    pipeline = SpectrogramPipeline([STFTSplit(n_fft=512), SpectrogramScaler("standard", axis="channels")])
    domain = SpectrogramDomain(pipeline, network=image_model)
    domain.adapt(clips, batch_size=8)                   # adapts the pipeline
    model = keras.Sequential([keras.Input((None, 2)), domain])
    model.predict(recording[None])                      # (1, any length, 2) → the same shape
    ```
    """

    def __init__(self, pipeline, network=None, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(pipeline, dict):
            pipeline = keras.saving.deserialize_keras_object(pipeline)
        if isinstance(pipeline, (list, tuple)) or (
            isinstance(pipeline, InvertibleLayer) and not isinstance(pipeline, SpectrogramPipeline)
        ):
            pipeline = SpectrogramPipeline(list(pipeline) if isinstance(pipeline, (list, tuple)) else [pipeline])
        if not isinstance(pipeline, SpectrogramPipeline):
            raise ValueError(f"pipeline must be a SpectrogramPipeline or a list of InvertibleLayers; got {pipeline!r}.")
        if isinstance(network, dict):
            network = keras.saving.deserialize_keras_object(network)
        if network is not None and not isinstance(network, keras.layers.Layer):
            raise ValueError(f"network must be a Keras layer or model (or None); got {network!r}.")
        self.pipeline = pipeline
        self.network = network
        self.data_format = standardize_data_format(data_format)

    @property
    def sample_rate(self):
        """The rate in Hz the pipeline was made for (`SpectrogramPipeline(..., sample_rate=)`), or None."""
        return self.pipeline.sample_rate

    def _channel_axis(self):
        return 2 if self.data_format == "channels_last" else 1

    def build(self, input_shape):
        layout = "(batch, samples, channels)" if self.data_format == "channels_last" else "(batch, channels, samples)"
        if len(input_shape) != 3 or input_shape[self._channel_axis()] is None:
            raise ValueError(
                f"SpectrogramDomain expects waveforms {layout} with a known channel count; got shape {tuple(input_shape)}."
            )
        self.pipeline.build(input_shape)
        image_shape = self.pipeline.compute_output_shape(input_shape)
        if self.network is not None:
            if not self.network.built:
                self.network.build(image_shape)
            out = tuple(self.network.compute_output_shape(image_shape))
            if len(out) != len(image_shape) or any(
                a is not None and b is not None and a != b for a, b in zip(out, image_shape)
            ):
                raise ValueError(
                    f"The network must return images of the shape it gets: it maps {tuple(image_shape)} to {out}."
                )
        self.input_spec = keras.layers.InputSpec(ndim=3, axes={self._channel_axis(): input_shape[self._channel_axis()]})

    def call(self, inputs):
        steps = self.pipeline.steps
        shapes, x = [], inputs
        for step in steps:
            shapes.append(self.backend.core.shape(x))
            x = step(x)
        if self.network is not None:
            x = self._checked_network(x)
        for step, shape in zip(reversed(steps), reversed(shapes)):
            step.backend.set_backend(self.backend.name)  # TensorFlow inside tf.data, as this layer
            try:
                x = step.invert(x, shape)
            finally:
                step.backend.reset()
        return x

    def _checked_network(self, images):
        """The network's images, refused (now, or as a TensorFlow graph runs) unless they have the input's shape."""
        b = self.backend
        out = self.network(images)
        before, after = b.core.shape(images), b.core.shape(out)
        message = (
            f"The network must return images of the shape it gets: it maps {tuple(images.shape)} to {tuple(out.shape)}"
        )
        if len(before) != len(after):
            raise ValueError(message + ".")
        conditions = []
        for axis, (a, z) in enumerate(zip(before, after)):
            if is_known(a) and is_known(z):
                if a != z:
                    raise ValueError(f"{message} (axis {axis}: {a} -> {z}).")
            elif is_runtime(b, a) or is_runtime(b, z):
                conditions.append(
                    (b.numpy.equal(a, z), f"{message}: axis {axis} differs (a network that changes the frame count?).")
                )
        return checked(b, out, conditions)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def adapt(self, data, batch_size=None, steps=None, verbose=0):
        """Adapts the pipeline on waveforms `data` (as `SpectrogramPipeline.adapt`)."""
        self.pipeline.adapt(data, batch_size=batch_size, steps=steps, verbose=verbose)

    def get_config(self):
        return {
            **super().get_config(),
            "pipeline": keras.saving.serialize_keras_object(self.pipeline),
            "network": None if self.network is None else keras.saving.serialize_keras_object(self.network),
            "data_format": self.data_format,
        }

"""`SpectrogramDomain`: waveforms → images → a network → waveforms of the same shape (or one per source)."""

import keras

from keras_spectro.functional.common import (
    channel_axis,
    checked,
    is_known,
    is_runtime,
    positive_int,
    standardize_data_format,
    true_or_false,
)
from keras_spectro.layers.base import InvertibleLayer, SpectroLayer
from keras_spectro.layers.pipeline import SpectrogramPipeline
from keras_spectro.layers.stft import STFTSplit


def _covering(b, step, waves):
    """`(waves, None)`, or for an `STFTSplit` whose STFT would leave the last samples of `waves` almost without
    window weight, `(waves zero-padded at the end to a length it covers, the index that cuts them back)`."""
    if not isinstance(step, STFTSplit):
        return waves, None
    axis = step._axes(3)[1]
    samples = b.core.shape(waves)[axis]
    covered = step._stft.covered_length(b, samples)
    if is_known(samples) and covered == samples:
        return waves, None
    widths = [(0, 0)] * 3
    widths[axis] = (0, covered - samples)
    return b.numpy.pad(waves, widths), (slice(None),) * axis + (slice(0, samples),)


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
            With `sources=K`: to `K *` the image channels, source-major.
        data_format: the waveform layout, `"channels_last"` `(batch, samples,
            channels)` or `"channels_first"` `(batch, channels, samples)`.
        sources: K, the waveforms the network's images make. With K > 1
            each of the K sets of images goes back through the pipeline (the
            forward's statistics and length), and the output is `(batch, K,
            samples, channels)` (channels_first: `(batch, K, channels,
            samples)`). 1: the output has the input's shape.
        mixture_consistency: (K > 1) add an equal share of `input - sum of
            the sources` to each source, so that the sources sum to the input.
        **kwargs: `keras.layers.Layer`'s `name`, `dtype`, `trainable`.

    Example:

    ```python
    pipeline = SpectrogramPipeline([STFTSplit(n_fft=512), SpectrogramScaler("standard", axis="channels")])
    domain = SpectrogramDomain(pipeline, network=image_model)
    domain.adapt(clips, batch_size=8)                   # adapts the pipeline
    model = keras.Sequential([keras.Input((None, 2)), domain])
    model.predict(recording[None])                      # (1, any length, 2) → the same shape

    separator = SpectrogramDomain(pipeline, network=mask_network, sources=2)  # images: 4 → 2 * 4 channels
    separator(mixtures)                                 # (batch, samples, 2) → (batch, 2, samples, 2)
    ```
    """

    def __init__(self, pipeline, network=None, data_format=None, sources=1, mixture_consistency=False, **kwargs):
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
        self.sources = positive_int(sources, "sources")
        mixture_consistency = true_or_false(mixture_consistency, "mixture_consistency")
        if mixture_consistency and self.sources == 1:
            raise ValueError("mixture_consistency=True shares the mixture among sources: it needs sources > 1.")
        self.mixture_consistency = mixture_consistency

    @property
    def sample_rate(self):
        """The rate in Hz the pipeline was made for (`SpectrogramPipeline(..., sample_rate=)`), or None."""
        return self.pipeline.sample_rate

    def _channel_axis(self):
        return channel_axis(3, self.data_format)

    def _network_shape(self, image_shape):
        """The images the network must return for `image_shape`: `sources *` the channels."""
        shape = list(image_shape)
        axis = channel_axis(len(shape), self.data_format)
        if self.sources > 1 and is_known(shape[axis]):
            shape[axis] *= self.sources
        return tuple(shape)

    def _refusal(self, images, out):
        if self.sources == 1:
            return f"The network must return images of the shape it gets: it maps {images} to {out}"
        return (
            f"SpectrogramDomain(sources={self.sources}): the network must return {self.sources} sets of images, "
            f"concatenated source-major on the channel axis ({self.sources} x the image channels), of the shape "
            f"{self._network_shape(images)}; it maps {images} to {out}"
        )

    def build(self, input_shape):
        layout = "(batch, samples, channels)" if self.data_format == "channels_last" else "(batch, channels, samples)"
        if len(input_shape) != 3 or input_shape[self._channel_axis()] is None:
            raise ValueError(
                f"SpectrogramDomain expects waveforms {layout} with a known channel count; got shape {tuple(input_shape)}."
            )
        self.pipeline.build(input_shape)
        image_shape = self._image_shape(input_shape)
        if self.network is not None:
            self._check_network_input(image_shape, input_shape)
            if not self.network.built:
                self.network.build(image_shape)
            out, expected = tuple(self.network.compute_output_shape(image_shape)), self._network_shape(image_shape)
            if len(out) != len(expected) or any(
                a is not None and b is not None and a != b for a, b in zip(out, expected)
            ):
                raise ValueError(self._refusal(image_shape, out) + ".")
        elif self.sources > 1:
            raise ValueError(
                f"SpectrogramDomain(sources={self.sources}) needs a network that makes the {self.sources} sources' images."
            )
        self.input_spec = keras.layers.InputSpec(ndim=3, axes={self._channel_axis(): input_shape[self._channel_axis()]})

    def _image_shape(self, input_shape):
        """The shape of the images the network sees: those of the covered length (`_covering`) where known."""
        shape = tuple(input_shape)
        for step in self.pipeline.steps:
            if isinstance(step, STFTSplit) and shape[step._axes(3)[1]] is not None:
                axis = step._axes(3)[1]
                shape = (*shape[:axis], step._stft.covered_length(None, shape[axis]), *shape[axis + 1 :])
            shape = tuple(step.compute_output_shape(shape))
        return shape

    def _check_network_input(self, image_shape, input_shape):
        """Refuses a network declaring images of another shape than it will get, naming the end padding if any."""
        try:
            declared = self.network.inputs if self.network.built else None
        except (AttributeError, ValueError):  # a layer, or a model without an Input
            declared = None
        if not declared or len(declared) != 1:
            return
        wanted = tuple(declared[0].shape)
        if len(wanted) == len(image_shape) and all(
            a is None or b is None or a == b for a, b in zip(wanted[1:], image_shape[1:])
        ):
            return
        naive = tuple(self.pipeline.compute_output_shape(input_shape))
        padded = (
            ""
            if naive == image_shape
            else f" (not {naive}: the domain pads {input_shape} at the end to a length whose STFT frames give "
            "every sample window weight, then cuts the result back)"
        )
        raise ValueError(
            f"The network takes images {wanted}, but the domain gives it {image_shape}{padded}; "
            "build the network with None frames (any length) or for the frames it gets."
        )

    def call(self, inputs):
        b, steps, k = self.backend, self.pipeline.steps, self.sources
        shapes, cuts, x = [], [], inputs
        for step in steps:
            x, cut = _covering(b, step, x)
            shapes.append(b.core.shape(x))
            cuts.append(cut)
            x = step(x)
        if self.network is not None:
            x = self._checked_network(x)
        if k > 1:  # the K sets of images as K times the batch, one state for all
            x = self._fold(x)
            shapes = [(shape[0] * k, *shape[1:]) for shape in shapes]
        for step, shape, cut in zip(reversed(steps), reversed(shapes), reversed(cuts)):
            step.backend.set_backend(b.name)  # TensorFlow inside tf.data, as this layer
            try:
                x = step.invert(x, shape)
            finally:
                step.backend.reset()
            x = x if cut is None else x[cut]
        if k == 1:
            return x
        shape = b.core.shape(x)
        x = b.numpy.reshape(
            x, (shape[0] // k, k, *shape[1:])
        )  # (batch, K, samples, channels) or (batch, K, channels, samples)
        if self.mixture_consistency:
            mixture = b.numpy.expand_dims(b.cast(inputs, x.dtype), 1)
            x = x + (mixture - b.numpy.sum(x, axis=1, keepdims=True)) / k
        return x

    def _fold(self, images):
        """`(batch, ..., K * c)` images → `(batch * K, ..., c)` (channels_first: the channel axis 1), sources batch-minor."""
        np_, k = self.backend.numpy, self.sources
        shape = self.backend.core.shape(images)
        if self.data_format == "channels_first":
            return np_.reshape(images, (shape[0] * k, shape[1] // k, *shape[2:]))
        x = np_.reshape(images, (*shape[:-1], k, shape[-1] // k))
        rank = len(shape) + 1  # positive axes: torch's ONNX export writes moveaxis(-2) as an invalid perm
        x = np_.transpose(x, (0, rank - 2, *range(1, rank - 2), rank - 1))
        return np_.reshape(x, (shape[0] * k, *shape[1:-1], shape[-1] // k))

    def _checked_network(self, images):
        """The network's images, refused (now, or as a TensorFlow graph runs) unless they have the shape expected."""
        b = self.backend
        try:
            out = self.network(images)
        except Exception as error:  # each backend raises its own kind for tf.data's symbolic tensors
            if b.name != "tensorflow" or keras.backend.backend() == "tensorflow":
                raise
            raise ValueError(
                f"{self.name}: inside tf.data the network gets TensorFlow tensors, which its layers cannot take "
                f"on the {keras.backend.backend()} backend (only layers written with `self.backend` ops can). "
                "Map the pipeline alone in tf.data, or call the model outside it, or use the TensorFlow backend."
            ) from error
        before, after = self._network_shape(b.core.shape(images)), b.core.shape(out)
        message = self._refusal(tuple(images.shape), tuple(out.shape))
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
        input_shape = tuple(input_shape)
        return input_shape if self.sources == 1 else (input_shape[0], self.sources, *input_shape[1:])

    def adapt(self, data, batch_size=None, steps=None, verbose=0):
        """Adapts the pipeline on waveforms `data` (as `SpectrogramPipeline.adapt`)."""
        self.pipeline.adapt(data, batch_size=batch_size, steps=steps, verbose=verbose)

    def get_config(self):
        return {
            **super().get_config(),
            "pipeline": keras.saving.serialize_keras_object(self.pipeline),
            "network": None if self.network is None else keras.saving.serialize_keras_object(self.network),
            "data_format": self.data_format,
            "sources": self.sources,
            "mixture_consistency": self.mixture_consistency,
        }

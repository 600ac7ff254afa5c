"""`SpectrogramPipeline`: invertible layers applied in order, adapted in order."""

import keras

from keras_spectro.batches import iterate_batches
from keras_spectro.functional.common import sample_rate_hz
from keras_spectro.layers.base import InvertibleLayer, _Unsaved


@keras.saving.register_keras_serializable(package="keras_spectro")
class SpectrogramPipeline(InvertibleLayer):
    """Applies invertible layers in order, like `keras.layers.Pipeline`.

    `adapt()` adapts each adaptable layer on the output of the layers before
    it (one pass over the data per adaptable layer, one batch in memory), and
    `inverse()` is the pipeline of the inverses in reverse order.

    Args:
        layers: a list of `InvertibleLayer`s.
        sample_rate: the rate in Hz of the audio the pipeline is made for, saved
            with it (`process_file` then refuses recordings at another rate).
            Default: that of a `MelScale` inside, else unknown (None).
        **kwargs: `keras.layers.Layer`'s `name`, `dtype`, `trainable`.

    Example:

    ```python
    to_images = SpectrogramPipeline([
        AudioPadding(44100),
        STFTSplit(n_fft=1024, hop_length=256),
        SpectrogramScaler("standard", axis="channels"),
    ])
    to_images.adapt(waves, batch_size=16)
    to_audio = to_images.inverse()
    waves_again = to_audio(to_images(waves))
    ```
    """

    def __init__(self, layers, sample_rate=None, **kwargs):
        super().__init__(**kwargs)
        layers = [
            keras.saving.deserialize_keras_object(layer) if isinstance(layer, dict) else layer for layer in layers
        ]
        if not layers or not all(isinstance(layer, InvertibleLayer) for layer in layers):
            raise ValueError(f"SpectrogramPipeline takes a non-empty list of InvertibleLayers; got {layers!r}.")
        self._pipeline_layers = layers
        self._inverse = _Unsaved(None)
        self.sample_rate = _agreed_sample_rate(sample_rate, layers)

    @property
    def layers(self):
        return self._pipeline_layers

    @property
    def steps(self):
        """The layers in order, with nested pipelines flattened."""
        return [
            step
            for layer in self.layers
            for step in (layer.steps if isinstance(layer, SpectrogramPipeline) else [layer])
        ]

    def build(self, input_shape):
        for layer in self.layers:
            if not layer.built:
                layer.build(input_shape)
            input_shape = layer.compute_output_shape(input_shape)

    def call(self, inputs):
        for layer in self.layers:
            inputs = layer(inputs)
        return inputs

    def inverse_call(self, inputs):
        if self._inverse.layer is None:
            self._inverse.layer = self.inverse()
        return self._inverse.layer(inputs)

    def inverse(self):
        return SpectrogramPipeline([layer.inverse() for layer in reversed(self.layers)], sample_rate=self.sample_rate)

    def compute_output_shape(self, input_shape):
        for layer in self.layers:
            input_shape = layer.compute_output_shape(input_shape)
        return input_shape

    def compute_inverse_output_shape(self, input_shape):
        for layer in reversed(self.layers):
            input_shape = layer.compute_inverse_output_shape(input_shape)
        return input_shape

    @property
    def adaptable(self):
        return any(layer.adaptable for layer in self.layers)

    def adapt(self, data, batch_size=None, steps=None, verbose=0):
        """Adapts each adaptable layer, in order, on what the layers before it make of `data`.

        `data` as in `InvertibleLayer.adapt`; it is read once per adaptable
        layer, so a one-shot generator only serves a single adaptable layer.
        """
        for before, step in self.adapt_plan():
            step.adapt(_Mapped(before, data, batch_size, steps, verbose))

    def adapt_plan(self):
        """`(steps before, step)` for each adaptable step, in order: what `adapt` (and
        `keras_spectro.distributed.adapt`) adapts, on the output of which steps."""
        steps = self.steps
        return [(steps[:i], step) for i, step in enumerate(steps) if step.adaptable]

    def get_config(self):
        return {
            **super().get_config(),
            "layers": [keras.saving.serialize_keras_object(layer) for layer in self.layers],
            "sample_rate": self.sample_rate,
        }


def _agreed_sample_rate(sample_rate, layers):
    """`sample_rate` (checked), or the one rate the layers state (MelScale, nested pipelines), or None."""
    if sample_rate is not None:
        sample_rate = sample_rate_hz(sample_rate)
    stated = {layer.name: layer.sample_rate for layer in layers if getattr(layer, "sample_rate", None) is not None}
    rates = set(stated.values()) | ({sample_rate} if sample_rate is not None else set())
    if len(rates) > 1:
        given = f"sample_rate={sample_rate} but " if sample_rate is not None else ""
        raise ValueError(
            f"SpectrogramPipeline: {given}its layers state other rates: {stated}. One pipeline serves one sample rate."
        )
    return rates.pop() if rates else None


class _Mapped:
    """Re-iterable batches of `data` passed through `layers`."""

    def __init__(self, layers, data, batch_size, steps, verbose):
        self.layers, self.data, self.batch_size, self.steps, self.verbose = layers, data, batch_size, steps, verbose

    def __iter__(self):
        for batch in iterate_batches(self.data, self.batch_size, self.steps, self.verbose):
            for layer in self.layers:
                batch = layer(batch)
            yield batch

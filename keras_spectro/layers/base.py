"""The public base class of every invertible step, and the layer that runs one backwards."""

import keras
import numpy as np
from keras.src.backend.common.stateless_scope import get_stateless_scope

try:  # Keras' base of tf.data-safe layers (private; TFDataLayer in older Keras 3, e.g. 3.8)
    from keras.src.layers.preprocessing.data_layer import DataLayer
except ImportError:  # older Keras
    from keras.src.layers.preprocessing.tf_data_layer import TFDataLayer as DataLayer

from keras_spectro.batches import iterate_batches
from keras_spectro.functional.common import Backend, is_tf_tensor

# Bumped when a layer's config or variables change incompatibly; stored in every config.
# 2: SpectrogramScaler keeps a `count` variable.
FORMAT_VERSION = 2


class _Unsaved:
    """Holds a layer (or adapt()'s running state) out of sight of Keras' tracking and saving walk."""

    def __init__(self, layer):
        self.layer = layer


class SpectroLayer(DataLayer):
    """What every keras_spectro layer shares: tf.data on every backend, versioned configs."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.backend = Backend()  # Keras' DynamicBackend, without its graph break in torch.compile

    def __call__(self, inputs, **kwargs):
        if not self.built and keras.backend.backend() != "tensorflow" and is_tf_tensor(inputs):
            self.build(tuple(inputs.shape))  # inside tf.data, other backends see no shape
        return super().__call__(inputs, **kwargs)

    def get_config(self):
        return {**super().get_config(), "format_version": FORMAT_VERSION}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        version = config.pop("format_version", FORMAT_VERSION)
        if version > FORMAT_VERSION:
            raise ValueError(
                f"{cls.__name__} was saved by a newer keras_spectro (layer format "
                f"{version}; this one reads up to {FORMAT_VERSION}). Upgrade keras_spectro."
            )
        return cls(**config)


@keras.saving.register_keras_serializable(package="keras_spectro")
class InvertibleLayer(SpectroLayer):
    """Base class of a step that has an exact inverse and may learn statistics.

    A subclass writes `call` (forward) and `inverse_call` (its inverse), and
    `compute_output_shape` / `compute_inverse_output_shape` when it changes
    shapes. Written with `self.backend` ops (`self.backend.numpy.exp`, ...) it
    also runs inside `tf.data` on every backend; `keras.ops` works everywhere
    else.

    `inverse()` has one convention: it returns a layer that computes this
    layer's inverse and shares its state, now and after `adapt()`. By default
    that is `Inverse(self)`, which runs `inverse_call`; a step whose inverse is
    a layer class of its own (`STFTSplit` → `InverseSTFTSplit` / `GriffinLim`,
    `ChannelIndexer`) returns that class made from this layer's settings and
    dtype policy, linked to this layer where it must follow its state (the
    STFT inverses return as many samples as the forward layer's latest input).

    An adaptable step writes the partial-state protocol and inherits `adapt`,
    which then also runs sharded (`keras_spectro.distributed.adapt`):
    `partial_state(batches)` (the statistics of some batches as a small
    picklable dict, the layer untouched), `merge_states(states)` (one state
    from any number of them, whatever their order or sharding) and
    `load_state(state)` (sets the layer's statistics). A step may instead
    write `reset_state`, `update_state(batch)` and `finalize_state`: it then
    adapts in one process only.

    Args:
        **kwargs: `keras.layers.Layer`'s `name`, `dtype`, `trainable`.

    Example:

    ```python
    @keras.saving.register_keras_serializable()
    class Gain(keras_spectro.InvertibleLayer):
        def __init__(self, gain=2.0, **kwargs):
            super().__init__(**kwargs)
            self.gain = gain

        def call(self, x):
            return x * self.gain

        def inverse_call(self, x):
            return x / self.gain

        def get_config(self):
            return {**super().get_config(), "gain": self.gain}

    y = Gain()(x); x_again = Gain().inverse()(y)
    ```
    """

    def inverse_call(self, inputs):
        raise NotImplementedError(f"{type(self).__name__} does not define inverse_call.")

    def invert(self, outputs, input_shape):
        """`inverse_call`, told the shape of the input that gave `outputs`.

        `input_shape` holds ints, or scalar tensors for sizes known only at run
        time. Steps whose outputs do not tell their input's sample count
        (`AudioPadding`, `STFTSplit`) override it; `SpectrogramDomain` calls it.
        """
        return self.inverse_call(outputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def compute_inverse_output_shape(self, input_shape):
        return input_shape

    def inverse(self):
        """A layer computing `inverse_call`, sharing this layer's state."""
        return Inverse(self)

    # --- adapt: statistics as partial states, merged exactly ----------------
    @property
    def adaptable(self):
        return self.mergeable or type(self).update_state is not InvertibleLayer.update_state

    @property
    def mergeable(self):
        """Whether the layer writes the partial-state protocol, so it can adapt sharded."""
        return type(self).partial_state is not InvertibleLayer.partial_state

    def partial_state(self, batches):
        """The statistics of an iterable of `batches`, as a small picklable dict.

        Leaves the layer untouched. Example: `state = scaler.partial_state([images])`.
        """
        raise NotImplementedError(f"{type(self).__name__} does not define partial_state.")

    def merge_states(self, states):
        """One state from a non-empty list of partial states, the same in any order.

        Example: `scaler.merge_states([scaler.partial_state([a]), scaler.partial_state([b])])`.
        """
        raise NotImplementedError(f"{type(self).__name__} does not define merge_states.")

    def load_state(self, state):
        """Sets the layer's statistics from a (merged) state: the end of `adapt()`."""
        raise NotImplementedError(f"{type(self).__name__} does not define load_state.")

    def reset_state(self):
        self._adapt_state = _Unsaved(None)

    def update_state(self, batch):
        if not self.mergeable:
            raise NotImplementedError(f"{type(self).__name__} does not define update_state.")
        state, so_far = self.partial_state([batch]), getattr(self, "_adapt_state", _Unsaved(None)).layer
        self._adapt_state = _Unsaved(state if so_far is None else self.merge_states([so_far, state]))

    def finalize_state(self):
        if self.mergeable:
            state = getattr(self, "_adapt_state", _Unsaved(None)).layer
            if state is None:
                raise ValueError(f"{self.name}.adapt() got no data.")
            self.load_state(state)

    def adapt(self, data, batch_size=None, steps=None, verbose=0):
        """Learns the layer's statistics from `data`, one batch at a time.

        `data`: a numpy array (cut into batches of `batch_size`, default 32), a
        `tf.data.Dataset`, a `keras.utils.PyDataset` or any iterable of batches;
        `(x, y)` pairs use `x`. `steps` caps the batches read; `verbose=1`
        shows a progress bar.
        """
        if not self.adaptable:
            raise TypeError(f"{type(self).__name__} learns nothing: it cannot be adapted.")
        self.reset_state()
        for batch in iterate_batches(data, batch_size, steps, verbose):
            self.update_state(batch)
        self.finalize_state()


@keras.saving.register_keras_serializable(package="keras_spectro")
class Inverse(InvertibleLayer):
    """Runs `layer` backwards: `Inverse(layer)(y)` is `layer.inverse_call(y)`.

    It shares `layer`'s state (an inverse made before `layer.adapt()` uses the
    adapted statistics) and saves a copy of that state with itself.

    Args:
        layer: the `InvertibleLayer` to run backwards.
        **kwargs: `keras.layers.Layer`'s `name`, `dtype`, `trainable`.

    Example:

    ```python
    scaler = SpectrogramScaler()
    unscale = scaler.inverse()          # an Inverse
    scaler.adapt(images)
    images_again = unscale(scaler(images))
    ```
    """

    def __init__(self, layer, **kwargs):
        if isinstance(layer, dict):
            layer = keras.saving.deserialize_keras_object(layer)
        super().__init__(**kwargs)
        self._forward = _Unsaved(layer)  # no attribute may expose it to Keras' saving walk
        self.backend = layer.backend  # switched to TF together inside tf.data

    def build(self, input_shape):
        if not self._forward.layer.built:
            self._forward.layer.build(self._forward.layer.compute_inverse_output_shape(input_shape))

    def call(self, inputs):
        return self._forward.layer.inverse_call(inputs)

    def inverse_call(self, inputs):
        return self._forward.layer.call(inputs)

    def compute_output_shape(self, input_shape):
        return self._forward.layer.compute_inverse_output_shape(input_shape)

    def compute_inverse_output_shape(self, input_shape):
        return self._forward.layer.compute_output_shape(input_shape)

    def inverse(self):
        return self._forward.layer

    @property
    def adaptable(self):
        return False

    def save_own_variables(self, store):
        self._forward.layer.save_own_variables(store)

    def load_own_variables(self, store):
        self._forward.layer.load_own_variables(store)

    def get_config(self):
        return {**super().get_config(), "layer": keras.saving.serialize_keras_object(self._forward.layer)}


def current_value(variable):
    """`variable`'s value as numpy, also while a function is traced; None where it cannot be read.

    Inside a stateless call (`model.stateless_call`, Keras' JAX `fit`) the value is the one
    the call was given, not the stored one: None where that is a tracer (`jax.jit`).
    """
    scope = get_stateless_scope()
    given = None if scope is None else scope.get_current_value(variable)
    if given is not None:
        try:
            return np.asarray(keras.ops.convert_to_numpy(given))
        except Exception:  # a tracer or a symbolic tensor: read as the call runs
            return None
    try:
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            with tf.init_scope():  # out of any graph being traced
                value = np.asarray(variable.numpy())
            return value if value.size else None  # created inside a graph: no value yet
        stored = variable._value  # JAX and torch: the stored value, not a tracer
        return None if stored is None else np.asarray(keras.ops.convert_to_numpy(stored))
    except Exception:  # e.g. a value handed to another device or freed during training
        return None

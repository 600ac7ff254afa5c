"""What the functions and the layers share: the backend a tensor belongs to, argument checks, run-time checks."""

import importlib
import sys
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras.src.utils.backend_utils import DynamicBackend

# A tensor of the Keras backend, a tf tensor (inside tf.data) or a numpy array: the backends ship no types.
Tensor = Any
# A window name ("hann", "hamming", "blackman"), None (rectangular) or the window's values.
Window = str | Sequence[float] | np.ndarray | None


class Backend(DynamicBackend):
    """Keras' `DynamicBackend` (switched to TensorFlow inside tf.data) that torch.compile traces without a break.

    Keras' own imports its backend module on every attribute read (`importlib.import_module`),
    which breaks a torch.compile graph at every op: the pieces then passed complex
    intermediates between graphs and differentiated wrongly (issue 28). This one reads the
    module from a dict filled on first use (the configured backend's at import).

    Example: `Backend("torch").numpy.transpose(x, (0, 2, 1))`.
    """

    def __getattr__(self, name):
        module = _MODULES.get(self._backend)
        if module is None:
            module = _MODULES[self._backend] = importlib.import_module(f"keras.src.backend.{self._backend}")
        return getattr(module, name)


_MODULES = {keras.backend.backend(): importlib.import_module(f"keras.src.backend.{keras.backend.backend()}")}
_BACKENDS: dict[str, Backend] = {}


def backend_for(x):
    """The Keras backend ops for tensor `x`: TensorFlow's for a tf tensor (tf.data), else the configured backend.

    Example: `b = backend_for(waves); b.numpy.transpose(waves, (0, 2, 1))`.
    """
    name = "tensorflow" if is_tf_tensor(x) else keras.backend.backend()
    b = _BACKENDS.get(name)
    if b is None:
        b = _BACKENDS[name] = Backend(name)
    return b


def is_tf_tensor(x):
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(x, tf.Tensor)


def check_choice(value, choices, name):
    """`value`, or a ValueError naming `name` and the `choices` unless it is one of them.

    Example: `check_choice("reflect", ("constant", "reflect"), "pad_mode")`
    """
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}; got {value!r}.")
    return value


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, (int, float, np.number)) and not isinstance(value, bool)


def true_or_false(value, name):
    """`value` as a bool, or a ValueError naming `name` unless it is True or False (`center="False"` is no flag).

    Example: `true_or_false(np.bool_(True), "center")` → `True`.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False; got {value!r}.")
    return bool(value)


def positive_int(value, name):
    """`value` as an int, or a ValueError naming `name` unless it is an integer >= 1."""
    if not _is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}.")
    return int(value)


def non_negative_int(value, name):
    """`value` as an int, or a ValueError naming `name` unless it is an integer >= 0."""
    if not _is_int(value) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer; got {value!r}.")
    return int(value)


def finite_number(value, name):
    """`value` as a float, or a ValueError naming `name` unless it is a finite number (no bool, no NaN)."""
    if not _is_number(value) or not abs(value) < float("inf"):
        raise ValueError(f"{name} must be a finite number; got {value!r}.")
    return float(value)


def positive_number(value, name):
    """`value` as a float, or a ValueError naming `name` unless it is a finite number > 0."""
    if not _is_number(value) or not 0 < value < float("inf"):
        raise ValueError(f"{name} must be a positive number; got {value!r}.")
    return float(value)


def non_negative_number(value, name):
    """`value` as a float, or a ValueError naming `name` unless it is a finite number >= 0."""
    if not _is_number(value) or not 0 <= value < float("inf"):
        raise ValueError(f"{name} must be a non-negative number; got {value!r}.")
    return float(value)


def sample_rate_hz(value, name="sample_rate"):
    """A sample rate: an int where it is whole, else a float; a ValueError unless a finite number > 0."""
    if not _is_number(value) or not 0 < value < float("inf"):
        raise ValueError(f"{name} must be a positive number of Hz; got {value!r}.")
    return int(value) if float(value).is_integer() else float(value)


def channel_axis(rank, data_format):
    """The channel axis of a tensor of `rank` in `data_format`: the last one, or 1 (after the batch axis)."""
    return rank - 1 if data_format == "channels_last" else 1


def standardize_data_format(data_format):
    """`data_format`, or Keras' `image_data_format()` when None; checked."""
    data_format = data_format or keras.config.image_data_format()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"data_format must be 'channels_last' or 'channels_first'; got {data_format!r}.")
    return data_format


def is_known(size):
    """Whether a size is a Python int (known when the graph is made), not a run-time tensor."""
    return isinstance(size, (int, np.integer))


def is_runtime(b, size):
    """Whether `size` is a TensorFlow tensor: a size a graph knows only at run time, checkable there.

    (A JAX export's symbolic size is neither known nor checkable: it is left alone.)
    """
    return b.name == "tensorflow" and not is_known(size) and size is not None


def safe_sqrt(np_, power):
    """sqrt(power), 0 with a 0 gradient where power is exactly 0; NaN and inf pass through."""
    zero = power == 0
    return np_.where(zero, 0.0, np_.sqrt(np_.where(zero, 1.0, power)))


def checked(b, output, conditions):
    """`output`, made to fail at run time with the message of the first false condition.

    `conditions`: (boolean scalar tensor, message) pairs for sizes known only at run
    time. Such sizes exist only in TensorFlow graphs (a `None` length under
    `predict`, `tf.data` on every backend): JAX and torch trace with every size
    known, where the checks run in Python before any op. Example:
    `checked(b, images, [(samples >= n_fft, "n_fft is larger than the signal")])`.
    """
    if not conditions:
        return output
    import tensorflow as tf

    asserts = [tf.debugging.Assert(condition, [message]) for condition, message in conditions]
    with tf.control_dependencies(asserts):
        return tf.identity(output)


def refuse_at_run_time(b, output, condition, message, stored=None):
    """`output`, made to raise `message` when the scalar `condition` is false as the computation runs.

    For a state that cannot be read when a function is traced: TensorFlow gets an
    `Assert`; JAX (inside its `fit`/`predict`, which hide variable values) a host
    callback that raises RuntimeError; elsewhere the value is always readable. A JAX
    function traced into a TensorFlow graph (`model.export` through jax2tf) cannot hold
    a host callback: there `stored()`, the condition on the stored values that the
    export writes, is checked at once (a RuntimeError now instead of one as it runs).
    """
    if b.name == "tensorflow":
        return checked(b, output, [(condition, message)])
    if b.name == "jax":
        import jax

        tf = sys.modules.get("tensorflow")
        if tf is not None and not tf.executing_eagerly():  # jax2tf: traced inside a TensorFlow graph
            if stored is not None and not stored():
                raise RuntimeError(message)
            return output

        def refuse(ok):
            if not ok:
                raise RuntimeError(message)

        jax.debug.callback(refuse, condition)
    return output

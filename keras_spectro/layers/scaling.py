"""Scalers of spectrogram images: `SpectrogramScaler` (learnt) and `MagnitudePhaseScaling` (fixed)."""

import keras
import numpy as np

from keras_spectro.functional.common import (
    channel_axis,
    check_choice,
    finite_number,
    positive_number,
    refuse_at_run_time,
    standardize_data_format,
)
from keras_spectro.functional.constants import DeviceConstants
from keras_spectro.layers.base import InvertibleLayer, current_value, get_stateless_scope

MODES = {"minmax": ("minimum", "maximum"), "standard": ("mean", "variance")}
STATE_KEYS = {"minmax": ("minimum", "maximum"), "standard": ("mean", "m2")}  # partial states' arrays
# A range or std below this share of the values' size is float32 rounding, not a spread (~100 ulps).
RELATIVE_RESOLUTION = 1e-5


def _checked_axis(axis):
    """A scaler's `axis` as its config holds it: None, "channels", an int or a tuple of ints (numpy's too)."""
    if axis is None or isinstance(axis, str) and axis == "channels":
        return axis
    one = isinstance(axis, (int, np.integer))
    axes = (axis,) if one else tuple(axis) if isinstance(axis, (list, tuple)) else None
    if axes is None or any(not isinstance(a, (int, np.integer)) or isinstance(a, (bool, np.bool_)) for a in axes):
        raise ValueError(f'axis must be None, "channels", an int or a tuple of ints; got {axis!r}.')
    return int(axis) if one else tuple(int(a) for a in axes)


@keras.saving.register_keras_serializable(package="keras_spectro")
class SpectrogramScaler(InvertibleLayer):
    """Scales images by statistics learnt with `adapt()` (or given), with an exact inverse.

    `"minmax"`: `(x - min) / (max - min) * (hi - lo) + lo`;
    `"standard"`: `(x - mean) / std * target_std + target_mean`.
    A constant stretch of data (a range or std of 0, or below 1e-5 of the values' size, i.e.
    float32 rounding) is only shifted, so it stays invertible and noise is not blown up.

    Args:
        mode: `"minmax"` or `"standard"`.
        feature_range: `(lo, hi)` for `"minmax"`.
        target_mean: the mean after `"standard"` scaling.
        target_std: the standard deviation after `"standard"` scaling.
        axis: as in `keras.layers.Normalization`, the axes that keep their own
            statistics: `None` (one statistic), an int or a tuple, or
            `"channels"` (one per image channel, following `data_format`).
        minimum: for `"minmax"`, the minimum to use instead of `adapt()`'s (a scalar
            or shaped like the kept axes), given with `maximum`.
        maximum: for `"minmax"`, the maximum, given with `minimum`.
        mean: for `"standard"`, the mean to use instead of `adapt()`'s, given with `variance`.
        variance: for `"standard"`, the variance, given with `mean`.
        data_format: where `axis="channels"` is.
        **kwargs: `keras.layers.Layer`'s `name`, `dtype`, `trainable`.

    Example:

    ```python
    scaler = SpectrogramScaler("standard", axis="channels")
    scaler.adapt(images, batch_size=16)   # or a tf.data.Dataset / PyDataset
    scaled = scaler(images)
    images_again = scaler.inverse()(scaled)
    ```
    """

    def __init__(
        self,
        mode="minmax",
        feature_range=(-1.0, 1.0),
        target_mean=0.0,
        target_std=1.0,
        axis=None,
        minimum=None,
        maximum=None,
        mean=None,
        variance=None,
        data_format=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_choice(mode, sorted(MODES), "mode")
        lo, hi = (finite_number(v, "feature_range") for v in feature_range)
        if not lo < hi:
            raise ValueError(f"feature_range must be (lo, hi) with lo < hi; got {feature_range!r}.")
        given = {"minimum": minimum, "maximum": maximum, "mean": mean, "variance": variance}
        names = MODES[mode]
        wrong = [k for k, v in given.items() if v is not None and k not in names]
        if wrong or (given[names[0]] is None) != (given[names[1]] is None):
            raise ValueError(
                f"mode={mode!r} takes both of {names} or neither; got {[k for k, v in given.items() if v is not None]}."
            )
        self.mode = mode
        self.feature_range = (lo, hi)
        self.target_mean = finite_number(target_mean, "target_mean")
        self.target_std = positive_number(target_std, "target_std")
        self.axis = _checked_axis(axis)
        self.data_format = standardize_data_format(data_format)
        self._given = {k: None if given[k] is None else np.asarray(given[k], "float64") for k in names}
        _check_statistics(self._given, mode)

    @property
    def is_adapted(self):
        """Whether the statistics were learnt or given (the `count` variable is positive); None where
        the value cannot be read now (inside JAX's `fit`/`predict`, whose calls then check it as they run)."""
        if self._given[MODES[self.mode][0]] is not None:
            return True
        if not self.built:
            return False
        stamp = None if get_stateless_scope() is not None else _value_stamp(self.count)  # a given state: read it
        memo = getattr(self, "_adapted_memo", None)
        if stamp is not None and memo is not None and memo[0] is stamp[0] and memo[1] == stamp[1]:
            return memo[2]  # the same stored value as last time: no device-to-host read (a sync on a GPU)
        value = current_value(self.count)
        adapted = None if value is None else bool(value > 0)
        if stamp is not None and adapted is not None:
            self._adapted_memo = (*stamp, adapted)
        return adapted

    def _kept_axes(self, rank):
        if self.axis is None:
            return ()
        if self.axis == "channels":
            return (channel_axis(rank, self.data_format),)
        axes = (self.axis,) if isinstance(self.axis, int) else self.axis
        kept = tuple(sorted(a % rank for a in axes))
        if any(a == 0 for a in kept) or any(not -rank <= a < rank for a in axes):
            raise ValueError(
                f"axis {self.axis!r} does not fit inputs of rank {rank} (the batch axis 0 cannot keep statistics)."
            )
        return kept

    def build(self, input_shape):
        kept = self._kept_axes(len(input_shape))
        if any(input_shape[a] is None for a in kept):
            raise ValueError(
                f"The axes {kept} that keep statistics must have known sizes; got shape {tuple(input_shape)}."
            )
        self._stat_shape = tuple(input_shape[a] if a in kept else 1 for a in range(len(input_shape)))
        self._reduce_axes = tuple(a for a in range(len(input_shape)) if a not in kept)
        self.input_spec = keras.layers.InputSpec(ndim=len(input_shape), axes={a: input_shape[a] for a in kept})
        # float32 whatever the dtype policy: statistics are never autocast to half precision
        options = dict(initializer="zeros", trainable=False, dtype="float32", autocast=False)
        for name in MODES[self.mode]:
            value = self._given[name]
            weight = self.add_weight(name=name, shape=self._stat_shape, **options)
            if value is not None:
                weight.assign(
                    np.broadcast_to(value, [input_shape[a] for a in kept]).reshape(self._stat_shape).astype("float32")
                )
            setattr(self, name, weight)
        # how many values each statistic was learnt from (1 when given; 0: not adapted)
        self.count = self.add_weight(name="count", shape=(), **options)
        if self._given[MODES[self.mode][0]] is not None:
            self.count.assign(1.0)

    def _affine(self):
        """(gain, offset) with forward `x * gain + offset`, from the current statistics."""
        first, second = (self.convert_weight(getattr(self, n)) for n in MODES[self.mode])
        np_ = self.backend.numpy
        if self.mode == "minmax":
            spread, (low, high) = second - first, self.feature_range
            target_center, target_spread = low, high - low
        else:
            spread, target_center, target_spread = np_.sqrt(second), self.target_mean, self.target_std
        # a spread within float32 rounding of the values themselves is no spread: such data is only shifted
        size = np_.maximum(np_.abs(first), np_.abs(second)) if self.mode == "minmax" else np_.abs(first)
        varies = spread > RELATIVE_RESOLUTION * size
        gain = np_.where(varies, target_spread / np_.where(varies, spread, 1.0), 1.0)
        return gain, target_center - first * gain

    def _not_adapted_message(self):
        return (
            f"{self.name} has no statistics yet: call adapt(data) first, or pass "
            f"{' and '.join(MODES[self.mode])} to SpectrogramScaler (a clone_model copy needs set_weights)."
        )

    def _checked_affine(self, inputs):
        """(inputs, gain, offset), refusing a scaler without statistics now, or as the call runs where unreadable now."""
        adapted = self.is_adapted
        if adapted is False:
            raise RuntimeError(self._not_adapted_message())
        gain, offset = self._affine()
        if adapted is None:
            inputs = refuse_at_run_time(
                self.backend,
                inputs,
                self.convert_weight(self.count) > 0,
                self._not_adapted_message(),
                stored=lambda: float(keras.ops.convert_to_numpy(self.count._value)) > 0,
            )
        return inputs, gain, offset

    def call(self, inputs):
        inputs, gain, offset = self._checked_affine(inputs)
        return self.backend.cast(self.backend.cast(inputs, "float32") * gain + offset, self.compute_dtype)

    def inverse_call(self, inputs):
        inputs, gain, offset = self._checked_affine(inputs)
        return self.backend.cast((self.backend.cast(inputs, "float32") - offset) / gain, self.compute_dtype)

    # --- adapt: partial states merged exactly, whatever the batching or sharding ---
    def partial_state(self, batches):
        """The statistics of `batches` as float64 numpy arrays; the layer is left untouched.

        `{"count", "minimum", "maximum"}` (`"minmax"`) or `{"count", "mean", "m2"}`
        (`"standard"`; m2 is the sum of squared deviations from the mean), shaped like
        the statistics; `count` is how many values each statistic saw (0: no data, and
        then no other key). Merge with `merge_states`, set with `load_state`.
        """
        state = {"count": np.zeros((), "float64")}
        for batch in batches:
            state = self.merge_states([state, self._batch_state(batch)])
        return state

    def _batch_state(self, batch):
        x = np.asarray(keras.ops.convert_to_numpy(batch), "float64")
        if self.built:
            stat_shape, reduce_axes = self._stat_shape, self._reduce_axes
        else:
            kept = self._kept_axes(x.ndim)
            stat_shape = tuple(x.shape[a] if a in kept else 1 for a in range(x.ndim))
            reduce_axes = tuple(a for a in range(x.ndim) if a not in kept)
        if x.ndim != len(stat_shape) or any(s != 1 and s != d for s, d in zip(stat_shape[1:], x.shape[1:])):
            raise ValueError(f"adapt() batch of shape {x.shape} does not fit the statistics' shape {stat_shape}.")
        bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
        if bad:
            raise ValueError(f"adapt() data holds {bad} NaN or inf values; clean them before adapting.")
        count = np.float64(np.size(x) // int(np.prod(stat_shape)))
        if count == 0:
            return {"count": count}
        if self.mode == "minmax":
            return {
                "count": count,
                "minimum": x.min(axis=reduce_axes, keepdims=True),
                "maximum": x.max(axis=reduce_axes, keepdims=True),
            }
        mean = x.mean(axis=reduce_axes, keepdims=True)
        return {"count": count, "mean": mean, "m2": ((x - mean) ** 2).sum(axis=reduce_axes, keepdims=True)}

    def merge_states(self, states):
        """One state from a list of `partial_state`s: exact, in any order (Chan et al.'s merge).

        Example: `scaler.load_state(scaler.merge_states([scaler.partial_state([a]), scaler.partial_state([b])]))`
        """
        states = [s for s in states if s["count"] > 0]
        if not states:
            return {"count": np.zeros((), "float64")}
        first, second = STATE_KEYS[self.mode]
        shapes = {np.shape(s[first]) for s in states}
        if len(shapes) > 1:
            raise ValueError(f"Partial states of different statistics' shapes {sorted(shapes)} cannot be merged.")
        counts = [np.float64(s["count"]) for s in states]
        total = np.sum(counts)
        if self.mode == "minmax":
            low = np.minimum.reduce([s[first] for s in states])
            return {"count": total, first: low, second: np.maximum.reduce([s[second] for s in states])}
        mean = sum(n * s[first] for n, s in zip(counts, states)) / total
        m2 = sum(s[second] + n * (s[first] - mean) ** 2 for n, s in zip(counts, states))
        return {"count": total, first: mean, second: m2}

    def load_state(self, state):
        """Sets the statistics (and `count`) from a state of `partial_state` / `merge_states`."""
        count = float(state["count"])
        if not count > 0:
            raise ValueError(f"{self.name}.adapt() got no data.")
        first, second = (np.asarray(state[k], "float64") for k in STATE_KEYS[self.mode])
        if not self.built:
            kept = self._kept_axes(first.ndim)
            self.build((None,) + tuple(first.shape[a] if a in kept else None for a in range(1, first.ndim)))
        if first.shape != self._stat_shape:
            raise ValueError(
                f"A state of statistics' shape {first.shape} does not fit {self.name}'s {self._stat_shape}."
            )
        second = second if self.mode == "minmax" else second / count
        for name, value in zip(MODES[self.mode], (first, second)):
            getattr(self, name).assign(value.astype("float32"))
        self.count.assign(count)

    def load_own_variables(self, store):
        if len(store.keys()) == 2:  # saved by layer format 1, before `count`: it was adapted
            store = {**{k: store[k] for k in store.keys()}, "2": np.ones((), "float32")}
        super().load_own_variables(store)

    def get_config(self):
        config = {
            **super().get_config(),
            "mode": self.mode,
            "feature_range": list(self.feature_range),
            "target_mean": self.target_mean,
            "target_std": self.target_std,
            "axis": self.axis,
            "data_format": self.data_format,
        }
        for name, value in self._given.items():
            config[name] = None if value is None else value.tolist()
        return config


def _value_stamp(variable):
    """(stored value, version) that changes whenever the variable is assigned, or None where none is known.

    JAX stores a new immutable array at every assignment; torch assigns in place and bumps the
    tensor's version counter. (TensorFlow: None, the value is read.)
    """
    backend = keras.backend.backend()
    stored = getattr(variable, "_value", None)
    if stored is None or backend not in ("jax", "torch"):
        return None
    if backend == "jax":
        import jax

        return None if isinstance(stored, jax.core.Tracer) else (stored, 0)
    import torch

    return None if torch.compiler.is_compiling() else (stored, stored._version)


def _check_statistics(given, mode):
    """Refuses given statistics that no data has: NaN or inf, a negative variance, minimum > maximum."""
    first, second = (given[name] for name in MODES[mode])
    if first is None:
        return
    if not (np.all(np.isfinite(first)) and np.all(np.isfinite(second))):
        raise ValueError(f"SpectrogramScaler: the given {' and '.join(MODES[mode])} hold NaN or inf.")
    if mode == "standard" and np.any(second < 0):
        raise ValueError(f"SpectrogramScaler: a variance cannot be negative; got a minimum of {second.min()}.")
    if mode == "minmax" and np.any(first > np.broadcast_to(second, np.broadcast_shapes(first.shape, second.shape))):
        raise ValueError("SpectrogramScaler: the given minimum exceeds the maximum.")


@keras.saving.register_keras_serializable(package="keras_spectro")
class MagnitudePhaseScaling(InvertibleLayer):
    """Fixed scaling of (magnitude, phase) images, with its exact inverse.

    Even channels (magnitudes) become `m / magnitude_scale`; odd channels
    (phases) become `(p + phase_shift) / phase_scale`, so phases in (-π, π]
    land in (0, 2] by default. Use it on the interleaved `[M1, P1, M2, P2, ...]`
    images of `STFTSplit(representation="mag_phase")`, before any reordering.

    Args:
        magnitude_scale: the divisor of the magnitude channels (non-zero).
        phase_scale: the divisor of the shifted phase channels (non-zero).
        phase_shift: the shift added to the phase channels first.
        data_format: where the channel axis is.
        **kwargs: `keras.layers.Layer`'s `name`, `dtype`, `trainable`.

    Example:

    ```python
    scale = MagnitudePhaseScaling(magnitude_scale=100.0)
    images_again = scale.inverse()(scale(images))
    ```
    """

    def __init__(self, magnitude_scale=1.0, phase_scale=np.pi, phase_shift=np.pi, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.magnitude_scale = finite_number(magnitude_scale, "magnitude_scale")
        self.phase_scale = finite_number(phase_scale, "phase_scale")
        self.phase_shift = finite_number(phase_shift, "phase_shift")
        if self.magnitude_scale == 0 or self.phase_scale == 0:
            raise ValueError("magnitude_scale and phase_scale must be non-zero.")
        self.data_format = standardize_data_format(data_format)

    def build(self, input_shape):
        axis = channel_axis(len(input_shape), self.data_format)
        channels = input_shape[axis]
        if channels is None or channels % 2:
            raise ValueError(
                f"MagnitudePhaseScaling needs an even, known number of channels (magnitude, phase pairs); got shape {tuple(input_shape)}."
            )
        shape = [1] * len(input_shape)
        shape[axis] = channels
        pairs = channels // 2
        self._shift = np.reshape(np.tile([0.0, self.phase_shift], pairs), shape).astype("float32")
        self._scale = np.reshape(np.tile([self.magnitude_scale, self.phase_scale], pairs), shape).astype("float32")
        self._constants = DeviceConstants()  # _shift and _scale on the device, made once per device
        self.input_spec = keras.layers.InputSpec(ndim=len(input_shape), axes={axis: channels})

    def call(self, inputs):
        x = self.backend.cast(inputs, "float32")
        np_ = self.backend.numpy
        shift, scale = (self._constants.get(self.backend, name, lambda v=v: v, x) for name, v in self._vectors())
        return self.backend.cast(np_.divide(np_.add(x, shift), scale), self.compute_dtype)

    def _vectors(self):
        return (("shift", self._shift), ("scale", self._scale))

    def inverse_call(self, inputs):
        y = self.backend.cast(inputs, "float32")
        np_ = self.backend.numpy
        shift, scale = (self._constants.get(self.backend, name, lambda v=v: v, y) for name, v in self._vectors())
        return self.backend.cast(np_.subtract(np_.multiply(y, scale), shift), self.compute_dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "magnitude_scale": self.magnitude_scale,
            "phase_scale": self.phase_scale,
            "phase_shift": self.phase_shift,
            "data_format": self.data_format,
        }

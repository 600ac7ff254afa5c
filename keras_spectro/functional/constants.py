"""numpy constants (windows, window-sum reciprocals, DFT matrices, mel filters) as tensors kept on the device.

An eager call would otherwise convert each numpy constant again, on every call: a host-to-device copy
(and often a synchronisation) per constant and call on a GPU. `DeviceConstants` makes each one once per
(name, backend, device, dtype) and hands back the same tensor afterwards.
"""

import sys
import weakref

import numpy as np

# Entries kept per owner: frame-count dependent constants (window-sum reciprocals) give one per length.
MAX_CONSTANTS = 64
# Every live cache of device tensors or compiled functions (`DeviceConstants`, `EagerCompiled`), for `clear_caches`.
CACHES: "weakref.WeakSet" = weakref.WeakSet()


class DeviceConstants:
    """The tensors of an object's numpy constants, made once per (name, backend, device, dtype).

    `get(b, name, make, like)` returns `make()` (a numpy array) as a tensor of backend `b` on
    the device of tensor `like`, made on the first call and reused afterwards. Inside a trace
    (`tf.function`, `tf.data`, `jax.jit`, `torch.compile`, an ONNX export) it returns the numpy
    array itself: the trace embeds it once, as before, and no traced tensor is kept. Copies
    (`copy.deepcopy`, pickling) start empty. `conversions` counts the tensors made.

    Example: `window = self.constants.get(b, "window", lambda: self.window, like=x)`.
    """

    def __init__(self):
        self._tensors = {}
        self.conversions = 0
        CACHES.add(self)

    def __deepcopy__(self, memo):
        return DeviceConstants()

    def __getstate__(self):
        return {}

    def __setstate__(self, state):
        self.__init__()

    def clear(self):
        self._tensors.clear()

    def get(self, b, name, make, like, dtype=None):
        """`b`: a Keras backend (or its name); `make`: returns the numpy value; `dtype`: a cast, or None."""
        backend = b if isinstance(b, str) else b.name
        device = eager_device(backend, like)
        if device is None:
            value = make()
            value = value if dtype is None else value.astype(dtype)
            return _traced_torch(value, like) if backend == "torch" else value
        key = (name, backend, device, dtype)
        tensor = self._tensors.get(key)
        if tensor is None:
            value = np.asarray(make())
            value = value if dtype is None else value.astype(dtype)
            if len(self._tensors) >= MAX_CONSTANTS:
                self._tensors.clear()
            tensor = self._tensors[key] = _on_device(backend, value, like)
            self.conversions += 1
        return tensor


def eager_device(name, like):
    """The device of `like` (hashable) when it is a concrete tensor of backend `name` outside any trace, else None."""
    if name == "torch":
        torch = sys.modules.get("torch")
        if torch is None or not isinstance(like, torch.Tensor):
            return None
        if torch.compiler.is_compiling() or torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
            return None
        return like.device
    if name == "tensorflow":
        tf = sys.modules.get("tensorflow")
        if tf is None or not tf.executing_eagerly() or not hasattr(like, "numpy") or not isinstance(like, tf.Tensor):
            return None
        return like.device
    if name == "jax":
        jax = sys.modules.get("jax")
        if jax is None or not isinstance(like, jax.Array) or isinstance(like, jax.core.Tracer):
            return None
        devices = like.devices()
        return next(iter(devices)) if len(devices) == 1 else None
    return None


def _traced_torch(value, like):
    """A numpy constant as a torch tensor made inside the trace (torch.compile, torch.jit, an ONNX export).

    Dynamo reads a numpy array as a traced numpy computation, and the STFT of such a graph
    differentiates wrongly (issue 28): constants enter torch traces as tensors.
    """
    torch = sys.modules.get("torch")
    if torch is None or not isinstance(like, torch.Tensor):
        return value
    return torch.as_tensor(np.asarray(value), device=like.device)


def _on_device(name, value, like):
    if name == "torch":
        import torch

        return torch.as_tensor(value, device=like.device)
    if name == "tensorflow":
        import tensorflow as tf

        with tf.device(like.device):
            return tf.identity(tf.constant(value))
    import jax

    return jax.device_put(value, next(iter(like.devices())))


def clear_caches():
    """Frees what keras_spectro keeps for eager calls: constants on devices and compiled functions.

    They are made again when next needed. Use it to free device memory, or before
    timing a first call. Example: `keras_spectro.clear_caches()`.
    """
    for cache in list(CACHES):
        cache.clear()

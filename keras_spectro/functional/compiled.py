"""Eager calls of a layer's pure functions run compiled, once per input signature."""

import collections

import keras

from keras_spectro.functional.constants import CACHES

# Signatures (function, static arguments, input shapes and dtypes) kept per layer: audio of any
# length gives a new one per length, so the oldest are dropped past this count.
MAX_SIGNATURES = 16
# TensorFlow: XLA (jit_compile=True) or a plain graph, whichever measured faster (benchmarks/eager.py).
TF_JIT_COMPILE = True


class EagerCompiled:
    """The compiled forms of a layer's pure functions, used only when the layer is called eagerly.

    `run(backend, fn, *tensors, static=())` returns `fn(backend, *tensors, *static)`. Called
    eagerly (outside any trace: no Keras functional build, `tf.function`, `tf.data`,
    `jax.jit`, `torch.compile`) on JAX or TensorFlow, it runs `fn` through `jax.jit` or
    `tf.function` (with XLA unless `tf_xla=False`: TensorFlow cannot differentiate an XLA
    while loop), made once per (function, `static`, input shapes and dtypes) and kept
    for the latest `MAX_SIGNATURES` of them; elsewhere it calls `fn` as it is.

    `fn` must be pure: everything it reads besides `tensors` comes in `static`
    (hashable: settings, strings, numbers), which is part of the cache key; no
    variable, whose value a compiled function would keep. A layer's copies
    (`copy.deepcopy`, `__getstate__`) start empty and compile their own.

    Example: `self._compiled.run(self.backend, waves_to_image, waves, static=(settings, "real_imag", "channels_last"))`.
    """

    def __init__(self):
        self._functions = collections.OrderedDict()
        CACHES.add(self)

    def clear(self):
        self._functions.clear()

    def __deepcopy__(self, memo):
        return EagerCompiled()

    def __getstate__(self):
        return {}

    def __setstate__(self, state):
        self.__init__()

    def run(self, backend, fn, *tensors, static=(), tf_xla=TF_JIT_COMPILE):
        compile_ = _COMPILERS.get(backend.name)
        if compile_ is None or backend.name != keras.backend.backend() or not _eager(backend.name, tensors):
            return fn(backend, *tensors, *static)
        key = (fn, static, tuple((tuple(t.shape), str(t.dtype)) for t in tensors))
        compiled = self._functions.pop(key, None)
        if compiled is None:
            compiled = compile_(lambda *args: fn(backend, *args, *static), tensors, tf_xla)
            if len(self._functions) >= MAX_SIGNATURES:
                self._functions.popitem(last=False)
        self._functions[key] = compiled  # the most recently used last
        return compiled(*tensors)


def _eager(name, tensors):
    """Whether the tensors are concrete values outside any trace of `name`'s backend."""
    if name == "jax":
        import jax

        return not any(isinstance(t, jax.core.Tracer) for t in tensors)
    import tensorflow as tf

    return tf.executing_eagerly() and not any(isinstance(t, keras.KerasTensor) for t in tensors)


def _jax(fn, tensors, tf_xla):
    import jax

    return jax.jit(fn)


def _tensorflow(fn, tensors, xla):
    import tensorflow as tf

    signature = [tf.TensorSpec(t.shape, tf.as_dtype(t.dtype)) for t in tensors]
    return tf.function(fn, input_signature=signature, jit_compile=xla, autograph=False)


_COMPILERS = {"jax": _jax, "tensorflow": _tensorflow}

"""Reads batches one at a time from arrays, tf.data, PyDataset or any iterable."""

import itertools

import keras
import numpy as np


def iterate_batches(data, batch_size=None, steps=None, verbose=0):
    """Yields the inputs of each batch of `data`, one at a time.

    `data` is what `fit` takes: a numpy array or a backend tensor (cut into
    `batch_size` rows, default 32), an `(x, y)` or `(x, y, weights)` tuple of them
    (only `x` is read), a `tf.data.Dataset`, a `keras.utils.PyDataset`, or any
    iterable (e.g. a list) of batches; an `(x, y)` or `(x, y, weights)` batch
    yields `x`. At most `steps` batches; `verbose=1` shows a Keras progress bar.

    Example: `for x in iterate_batches((noisy, clean), batch_size=8): ...` (yields noisy batches)
    """
    if isinstance(data, tuple) and data and _is_array(data[0]):
        data = data[0]  # (x, y) or (x, y, sample_weight), as fit takes them
    if _is_array(data) and not isinstance(data, np.ndarray):
        data = np.asarray(keras.ops.convert_to_numpy(data))
    if isinstance(data, np.ndarray):
        batch_size = batch_size or 32
        batches = (data[i : i + batch_size] for i in range(0, len(data), batch_size))
        total = -(-len(data) // batch_size)
    elif isinstance(data, keras.utils.PyDataset):
        total = data.num_batches
        batches = (data[i] for i in range(total)) if total is not None else iter(data)
    elif type(data).__module__.startswith("tensorflow"):
        batches = data.as_numpy_iterator()
        total = _tf_cardinality(data)
    else:
        batches = iter(data)
        total = len(data) if hasattr(data, "__len__") else None
    if steps is not None:
        batches = itertools.islice(batches, steps)
        total = steps if total is None else min(steps, total)
    progress = keras.utils.Progbar(total, unit_name="batch") if verbose else None
    for i, batch in enumerate(batches, 1):
        if isinstance(batch, (tuple, list)):
            batch = batch[0]
        yield batch
        if progress:
            progress.update(i)


def _tf_cardinality(dataset):
    count = int(dataset.cardinality())
    return count if count >= 0 else None


def _is_array(x):
    """A numpy array or a tensor of any backend (not a dataset or a list of batches)."""
    if isinstance(x, np.ndarray) or keras.ops.is_tensor(x):
        return True
    module = type(x).__module__
    return module.startswith(("tensorflow", "torch", "jax")) and hasattr(x, "shape") and hasattr(x, "dtype")

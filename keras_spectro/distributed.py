"""Adapting a pipeline sharded over a Ray Data dataset, with partial statistics merged exactly.

Ray is optional (`pip install "keras_spectro[ray]"`) and imported only when a function here
runs: `import keras_spectro` never imports it.

Example:

```python
import ray
from keras_spectro import distributed

ray.init()
dataset = distributed.audio_dataset(files, channels=2, length=44100)   # one row per file
distributed.adapt(pipeline, dataset, batch_size=16)                   # == pipeline.adapt(...)
```
"""

import os
import uuid

import keras
import numpy as np

from keras_spectro.audio import load_audio
from keras_spectro.layers.base import InvertibleLayer
from keras_spectro.layers.domain import SpectrogramDomain
from keras_spectro.layers.pipeline import SpectrogramPipeline


def adapt(pipeline, dataset, column="data", batch_size=32):
    """Adapts every adaptable layer of `pipeline`, in order, over a `ray.data.Dataset`.

    For each adaptable layer, one `map_batches` pass runs the layers before it on
    batches of `batch_size` rows and returns the layer's `partial_state` per batch;
    the driver merges them (`merge_states`) and loads the result (`load_state`).
    The statistics equal `pipeline.adapt(waves, batch_size=...)` on the same rows
    to float32 rounding, whatever the blocks, batches or their order.

    Args:
        pipeline: a `SpectrogramPipeline`, a `SpectrogramDomain` (its pipeline is
            adapted) or one `InvertibleLayer`. Its adaptable layers must write the
            partial-state protocol (`partial_state`, `merge_states`, `load_state`).
        dataset: a `ray.data.Dataset` whose `column` holds float waveforms
            `(samples, channels)` (or what the pipeline's first layer takes); rows
            of different lengths are run one at a time.
        column: the column of the waveforms.
        batch_size: rows per batch on a worker (a worker holds one batch).

    The layers travel as configs and weights, with their classes (Ray sends a
    class of the driver's script by value, others by module name, which must
    then be importable on the workers). Workers use their own `KERAS_BACKEND`:
    a local cluster inherits the driver's; on a cluster set it with
    `ray.init(runtime_env={"env_vars": {"KERAS_BACKEND": "jax"}})`.

    Example: `distributed.adapt(pipeline, ray.data.from_items([{"data": w} for w in waves]))`
    """
    if isinstance(pipeline, SpectrogramDomain):
        pipeline = pipeline.pipeline
    if not isinstance(pipeline, InvertibleLayer):
        raise ValueError(
            f"adapt takes a SpectrogramPipeline, a SpectrogramDomain or an InvertibleLayer; got {pipeline!r}."
        )
    if not isinstance(pipeline, SpectrogramPipeline):
        pipeline = SpectrogramPipeline([pipeline], name=pipeline.name)
    plan = pipeline.adapt_plan()
    if not plan:
        raise TypeError(f"{pipeline.name} learns nothing: it cannot be adapted.")
    for _, step in plan:
        if not step.mergeable:
            raise TypeError(
                f"{type(step).__name__} adapts only in one process: write partial_state, "
                "merge_states and load_state (see InvertibleLayer) to adapt it sharded."
            )
    for before, step in plan:
        layers = [
            (type(layer), keras.saving.serialize_keras_object(layer), layer.get_weights()) for layer in before + [step]
        ]
        states = dataset.map_batches(
            _partial_states,
            fn_kwargs={"layers": layers, "token": uuid.uuid4().hex, "column": column},
            batch_size=batch_size,
            batch_format="numpy",
        )
        states = [row["state"] for row in states.iter_rows()]
        if not states:
            raise ValueError(f"{step.name}: the dataset holds no rows to adapt on.")
        step.load_state(step.merge_states(states))


def _partial_states(batch, layers, token, column):
    """On a worker: the partial state of one batch, as a one-row batch."""
    *before, step = _rebuilt(layers, token)
    if column not in batch:
        raise KeyError(f"The dataset has no column {column!r}; its columns are {sorted(batch)}.")
    waves = batch[column]
    ragged = waves.dtype == object  # rows of different shapes: one at a time
    inputs = (np.asarray(w)[None] for w in waves) if ragged else [waves]
    state = step.partial_state(_through(before, x) for x in inputs)
    return {"state": np.array([state], dtype=object)}


_REBUILT: dict[str, list] = {}  # the layers of the current pass, rebuilt once per worker process


def _rebuilt(layers, token):
    if token not in _REBUILT:
        _REBUILT.clear()
        _REBUILT[token] = [_from_config(*layer) for layer in layers]
    return _REBUILT[token]


def _from_config(cls, config, weights):
    own = {config.get("registered_name") or config["class_name"]: cls}  # Ray sent the class itself
    layer = keras.saving.deserialize_keras_object(config, custom_objects=own)  # built as it was
    layer.set_weights(weights)
    return layer


def _through(layers, x):
    for layer in layers:
        x = layer(x)
    return x


def audio_dataset(files, column="data", **options):
    """A `ray.data.Dataset` of audio files: one row `{"path": ..., column: waveform}` per file.

    Each worker reads its files with `load_audio(path, **options)` (`sample_rate`,
    `channels`, `length`, `mode`): float32 `(samples, channels)`. Give `length`
    (or files of one length) to batch the rows.

    Example: `dataset = audio_dataset(sorted(glob.glob("clips/*.wav")), channels=2, length=44100)`
    """
    import ray.data

    files = [os.fspath(f) for f in files]
    if not files:
        raise ValueError("audio_dataset needs at least one file.")

    def load(row):
        return {"path": row["path"], column: load_audio(row["path"], **options)}

    return ray.data.from_items([{"path": f} for f in files]).map(load)

"""Beyond one machine on Ray Data: a pipeline adapted sharded (partial statistics merged exactly), and a model over a corpus.

Ray is optional (`pip install "keras_spectro[ray]"`) and imported only when a function here
runs: `import keras_spectro` never imports it.

Example:

```python
import ray
from keras_spectro import distributed

ray.init()
dataset = distributed.audio_dataset(files, channels=2, length=44100)   # one row per file
distributed.adapt(pipeline, dataset, batch_size=16)                   # == pipeline.adapt(...)
distributed.process_files("denoiser.keras", "corpus/", "clean/", num_workers=8)  # == ks.audio.process_files
```
"""

import inspect
import json
import math
import os
import uuid

import keras
import numpy as np

from keras_spectro.audio import load_audio
from keras_spectro.layers.base import InvertibleLayer
from keras_spectro.layers.domain import SpectrogramDomain
from keras_spectro.layers.pipeline import SpectrogramPipeline

__all__ = ["adapt", "audio_dataset", "process_files"]


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


def process_files(model_path, sources, target, *, num_workers=None, num_gpus=0, **options):
    """`keras_spectro.audio.process_files` on a Ray cluster: the recordings spread over actors.

    The driver lists the sources, maps them to targets and decides what is skipped
    or refused as the local run does; the rest goes, as a `ray.data.Dataset` of
    rows, through `map_batches` with an actor pool: each actor loads the model
    once and runs its share of the recordings with the local machinery (batched
    `predict` calls, chunks, checks, atomic writes). Outputs equal the local ones
    to float32 rounding; the rows are the same (sorted by path), failures too.
    A worker that dies is restarted and its task retried (up to 3 times); the
    recordings it had under way are redone (a hidden `.NAME.xxxxxxxx.tmp` of
    a killed worker may stay beside its target; later runs ignore it).

    It uses the running Ray cluster, else `RAY_ADDRESS`, else starts a local one
    (its workers then get this process' `KERAS_BACKEND`). Every worker must reach
    `model_path`, the sources and the target folder (one machine, or a shared
    file system), and import keras_spectro.

    Args:
        model_path: a `.keras` file (each actor loads it once).
        sources, target: as in `process_files`.
        num_workers: the actors; default: one per CPU of the cluster, or one per
            `num_gpus` GPUs when `num_gpus` > 0.
        num_gpus: GPUs per actor (e.g. 1, or 0.5 for two actors per GPU): Ray
            places each actor on a GPU and sets its `CUDA_VISIBLE_DEVICES`.
        **options: `batch_size`, `chunk_seconds`, `overlap_seconds`, `subtype`,
            `clip`, `resample`, `overwrite`, `report`, `verbose`, as in `process_files`.

    Example: `rows = distributed.process_files("denoiser.keras", "s3fs/corpus", "s3fs/clean", num_gpus=1)`
    """
    from keras_spectro import corpus, files

    defaults = {name: p.default for name, p in inspect.signature(corpus.process_files).parameters.items()}
    unknown = set(options) - (set(defaults) - {"model", "sources", "target"})
    if unknown:
        raise TypeError(f"process_files got unknown options {sorted(unknown)}.")
    options = {
        name: options.get(name, defaults[name]) for name in defaults if name not in ("model", "sources", "target")
    }
    options["batch_size"] = corpus.check_batch_size(options["batch_size"])
    model_path = os.fspath(model_path)
    _, parts = files.model_parts(model_path)  # the checks of the model, and its source count, before any worker starts
    rows, todo = corpus.plan(sources, target, parts.sources, options["overwrite"])
    corpus.check_report(options["report"], rows + todo)
    finished = []
    try:
        if todo:
            finished = _run_on_ray(model_path, todo, num_workers, num_gpus, options)
    finally:  # also when interrupted: the rows decided so far
        rows += finished
        rows.sort(key=lambda row: row["source"])
        if options["report"] is not None:
            corpus.write_report(options["report"], rows)
    if options["verbose"]:
        print(corpus.summary(rows))
    return rows


def _run_on_ray(model_path, todo, num_workers, num_gpus, options):
    """The rows of `todo`, done by an actor pool; the list fills as they come back (so an interruption keeps them)."""
    import ray

    if not ray.is_initialized():
        ray.init(runtime_env={"env_vars": {"KERAS_BACKEND": keras.backend.backend()}}, log_to_driver=False)
    if num_workers is None:
        kind = "GPU" if num_gpus else "CPU"
        num_workers = max(1, int(ray.cluster_resources().get(kind, 1) // (num_gpus or 1)))
    batch_size = options["batch_size"]
    run = {name: options[name] for name in ("chunk_seconds", "overlap_seconds", "subtype", "clip", "resample")}
    done = ray.data.from_items([{"row": json.dumps(row)} for row in todo]).map_batches(
        _Runner,
        fn_constructor_kwargs={"model_path": model_path, "batch_size": batch_size, "options": run},
        batch_size=max(1, min(4 * batch_size, math.ceil(len(todo) / num_workers))),
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=num_workers),
        num_gpus=num_gpus,
        max_restarts=3,
        max_task_retries=3,
    )
    progress = keras.utils.Progbar(sum(row["seconds"] for row in todo), unit_name="s") if options["verbose"] else None
    finished = []
    for result in done.iter_rows():
        finished.append(json.loads(result["row"]))
        if progress is not None:
            progress.add(finished[-1]["seconds"] or 0)
    return finished


class _Runner:
    """A Ray actor: loads the model once, then runs batches of rows (JSON) with the local machinery."""

    def __init__(self, model_path, batch_size, options):
        from keras_spectro import files

        self.model, self.parts = files.model_parts(model_path)
        self.batch_size, self.options = batch_size, options

    def __call__(self, batch):
        from keras_spectro import corpus

        rows = [json.loads(text) for text in batch["row"]]
        corpus.run(self.model, self.parts, rows, self.batch_size, None, **self.options)
        return {"row": np.array([json.dumps(row) for row in rows], dtype=object)}

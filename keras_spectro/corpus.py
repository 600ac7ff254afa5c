"""Many recordings: `process_files` runs a model over a corpus, batching work from several files."""

import contextlib
import csv
import glob
import math
import numbers
import os

import keras
import numpy as np
import soundfile

from keras_spectro import files
from keras_spectro.audio_io import (
    FORMATS,
    BlockWriter,
    atomic_write,
    atomic_writes,
    check_target,
    open_audio,
    read_part,
    target_format,
    target_subtype,
)
from keras_spectro.files import Crossfade

# every extension libsndfile reads by itself, by its format names, plus the usual aliases (headerless RAW needs settings)
EXTENSIONS = ({f".{name.lower()}" for name in soundfile.available_formats()} | {".aif", ".oga", ".opus"}) - {".raw"}
STATUSES = ("done", "skipped", "failed")


def process_files(
    model,
    sources,
    target,
    *,
    batch_size=8,
    chunk_seconds=10.0,
    overlap_seconds=1.0,
    subtype=None,
    clip=False,
    resample=False,
    overwrite=False,
    report=None,
    verbose=1,
):
    """Runs an audio-to-audio model over many recordings: a folder, a glob pattern or a list.

    Each output is what `process_file` writes for that source with the same
    settings (chunks, cross-fades, subtype, checks), to float32 rounding, but the
    work of several files shares one `predict` call of up to `batch_size` items
    of one length: the chunks of recordings longer than a chunk, and the
    recordings up to one chunk long, each padded at its end with zeros to the
    next of a few shared lengths (four to an octave, multiples of the STFT hop,
    at least `n_fft`, see `bucket`) and cut back, so that the model compiles per
    length, not per file. Recordings go shortest first, so that a batch fills
    with recordings of one length. Such an output is exactly the model's output
    for the padded recording, cut back (`padded_to` in its row); for the round
    trip (no network) it is still the recording itself. A batch with fewer
    items is padded with silent ones to the size of the batches before it (else
    to a power of two), so that the batch size stays one. Under TensorFlow, where
    one traced function serves every shape, nothing is padded: each recording
    runs at its own length (`padded_to` is None); a bare layer, or a model whose
    channel count is unknown, is padded as on the other backends.

    A source that cannot be done (unreadable, wrong channel count, another rate
    without `resample=True`, NaN or inf output, output beyond [-1, 1] without
    `clip`, a target that is a source, two sources mapped to one target) is
    `"failed"` with its one-line error, nothing is written for it, and the others
    go on. An existing target is `"skipped"` unless `overwrite=True` (targets are
    written atomically, so one that exists is whole; a model with K sources skips
    a recording only when all K exist): re-running after an interruption does
    only what is left. Ctrl-C or SIGTERM keep the finished targets and leave
    nothing of the unfinished ones, write the report of the rows decided so far,
    then raise `KeyboardInterrupt` / `Terminated` as `process_file` does.

    Args:
        model: a Keras model (or a `.keras` path), as for `process_file`.
        sources: a folder (every file under it, recursively, whose extension
            libsndfile reads; others are ignored), a glob pattern (`"in/**/*.flac"`),
            or a list of paths.
        target: a folder (each output at its source's path relative to the
            `sources` folder, or its file name for a list or glob; the extension
            kept for WAV and FLAC, else `.wav`; a K-source model writes
            `{stem}_{source}`), or a template with the fields `{stem}` (the file
            name without extension), `{parent}` (its folder relative to the
            `sources` folder; empty for a list or glob) and `{source}`, e.g.
            `"out/{parent}/{stem}_clean.flac"`. Missing folders are created.
        batch_size: the most items in one `predict` call.
        chunk_seconds, overlap_seconds, subtype, clip, resample: as in `process_file`.
        overwrite: redo targets that exist.
        report: a CSV path: one row per source (`source,targets,status,seconds,error`,
            targets joined by `;`), written atomically at the end, or when interrupted
            (missing folders are made; a report path that is a folder, a source or a
            target is a ValueError before any work).
        verbose: 1: a progress bar over the corpus' seconds, then
            `N done, M skipped, K failed`; 0: nothing.

    Returns: one dict per source, sorted by path: `{"source", "targets", "status"
    ("done", "skipped" or "failed"), "seconds" (the recording's duration),
    "error", "padded_to" (the sample count a padded recording ran at, else None)}`.

    Example:

    ```python
    rows = ks.audio.process_files("denoiser.keras", "corpus/", "clean/{parent}/{stem}.flac", report="done.csv")
    failed = [row for row in rows if row["status"] == "failed"]
    ```
    """
    batch_size = check_batch_size(batch_size)
    model, parts = files.model_parts(model)
    rows, todo = plan(sources, target, parts.sources, overwrite)
    check_report(report, rows + todo)
    seconds = sum(row["seconds"] for row in todo)
    progress = keras.utils.Progbar(seconds, unit_name="s") if verbose and todo else None
    options = dict(
        chunk_seconds=chunk_seconds, overlap_seconds=overlap_seconds, subtype=subtype, clip=clip, resample=resample
    )
    try:
        run(model, parts, todo, batch_size, progress, **options)
    finally:  # also when interrupted: the rows decided so far
        rows += [row for row in todo if row["status"] is not None]
        rows.sort(key=lambda row: row["source"])
        if report is not None:
            write_report(report, rows)
    if verbose:
        print(summary(rows))
    return rows


def check_batch_size(batch_size):
    """`batch_size` as an `int` (a NumPy integer too); anything but a positive integer is a ValueError."""
    if isinstance(batch_size, (bool, np.bool_)) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}.")
    return int(batch_size)


def summary(rows):
    """`N done, M skipped, K failed` for a list of rows."""
    counts = {status: sum(row["status"] == status for row in rows) for status in STATUSES}
    return f"{counts['done']} done, {counts['skipped']} skipped, {counts['failed']} failed"


def check_report(path, rows):
    """Refuses, before any work, a report path that is a folder, below a file, or a source or target of `rows`."""
    if path is None:
        return
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"report={path!r} is a folder; give a file name, e.g. results.csv.")
    folder = os.path.dirname(os.path.abspath(path))
    while not os.path.isdir(folder):
        if os.path.exists(folder):
            raise NotADirectoryError(f"report={path!r}: {folder} is a file, not a folder.")
        folder = os.path.dirname(folder)
    real = os.path.realpath(path)
    for row in rows:
        for other in (row["source"], *row["targets"]):
            if os.path.realpath(other) == real:
                raise ValueError(f"report={path!r} is {other}, a recording of this run; write the report elsewhere.")


def write_report(path, rows):
    """Writes the rows as CSV (`source,targets,status,seconds,error`; targets joined by `;`), atomically; makes its folder."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_write(path) as temporary, open(temporary, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["source", "targets", "status", "seconds", "error"])
        for row in rows:
            seconds = "" if row["seconds"] is None else f"{row['seconds']:.6f}"
            writer.writerow([row["source"], ";".join(row["targets"]), row["status"], seconds, row["error"] or ""])


def list_sources(sources):
    """[(path, parent)] of a folder (recursively, audio extensions only), a glob pattern, or a list of them or of files; sorted.

    `parent` is the file's folder relative to the folder searched (`""` for a file or a glob).
    """
    if not isinstance(sources, (str, os.PathLike)):
        found = {}  # a file named twice (e.g. in a folder given and by itself, or as ./x) is done once, as first named
        for item in sources:
            for path, parent in list_sources(item):
                found.setdefault(os.path.abspath(path), (path, parent))
        return sorted(found.values())
    sources = os.fspath(sources)
    if os.path.isdir(sources):
        found = []
        for folder, _, names in os.walk(sources):
            parent = os.path.relpath(folder, sources)
            for name in names:
                if os.path.splitext(name)[1].lower() in EXTENSIONS and not name.startswith("."):
                    found.append((os.path.join(folder, name), "" if parent == "." else parent))
        return sorted(found)
    if glob.has_magic(sources) and not os.path.isfile(sources):
        return sorted((path, "") for path in glob.glob(sources, recursive=True) if os.path.isfile(path))
    return [(sources, "")]


def output_folder(target, folder):
    """The folder every target lies in: `target` itself for a folder, else the template's folder before its first field."""
    return target if folder else os.path.dirname(target.split("{")[0]) or "."


def without_results(rows, outputs):
    """The rows whose source is no result of this run: a file in the folder `outputs` that is another row's target.

    So a target folder inside the sources folder (`-o corpus/clean`) is not taken for sources
    when the run is done again, while recordings that were there before are.
    """
    inside = os.path.realpath(outputs).rstrip(os.sep) + os.sep
    made = {os.path.realpath(path): row["source"] for row in rows for path in row["targets"]}

    def result(row):
        real = os.path.realpath(row["source"])
        return real.startswith(inside) and made.get(real, row["source"]) != row["source"]

    return [row for row in rows if not result(row)]


def target_is_folder(sources, target):
    """Whether `target` names a folder: no `{`, and several sources, a folder, a glob, or a trailing slash."""
    target = os.fspath(target)
    if "{" in target:
        return False
    if target.endswith(("/", os.sep)) or os.path.isdir(target) or not isinstance(sources, (str, os.PathLike)):
        return True
    return os.path.isdir(sources) or glob.has_magic(os.fspath(sources))


def targets_for(path, parent, target, folder, count):
    """The files written for source `path`: one, or one per source of a `count`-source model."""
    stem, extension = os.path.splitext(os.path.basename(path))
    if folder:
        extension = extension if extension.lower() in FORMATS else ".wav"
        target = os.path.join(target, parent, stem + ("_{source}" if count > 1 else "") + extension)
    else:
        try:
            target = target.format_map({"stem": stem, "parent": parent, "source": "{source}"})
        except (KeyError, ValueError, IndexError) as error:
            raise ValueError(
                f"{target}: a target template takes {{stem}}, {{parent}} and {{source}} ({error})."
            ) from None
    target = os.path.normpath(target)
    return [target.replace("{source}", str(k)) for k in range(count)]


def plan(sources, target, count, overwrite):
    """(rows decided already: skipped or failed, rows to do) for `process_files`; refuses a bad template."""
    target = os.fspath(target)
    folder = target_is_folder(sources, target)
    if count > 1 and not folder and "{source}" not in target:
        files.source_targets("", target, count)  # the error of process_file
    rows = [_row(path, targets_for(path, parent, target, folder, count)) for path, parent in list_sources(sources)]
    rows = without_results(rows, output_folder(target, folder))
    source_paths = {os.path.realpath(row["source"]): row["source"] for row in rows}
    owners = {}
    for row in rows:
        for path in row["targets"]:
            owners.setdefault(os.path.realpath(path), []).append(row["source"])
    decided, todo = [], []
    for row in rows:
        try:
            with open_audio(row["source"]) as file:
                row["seconds"] = file.frames / file.samplerate
            for path in row["targets"]:
                real = os.path.realpath(path)
                if real == os.path.realpath(row["source"]):
                    raise ValueError(f"{path}: is the source recording itself; write the result to another file.")
                if real in source_paths:
                    raise ValueError(
                        f"{path}: is {source_paths[real]}, a source of this run; write the result elsewhere."
                    )
                others = [other for other in owners[real] if other != row["source"]]
                if others:
                    raise ValueError(f"{path}: is also the target of {others[0]}; give each source its own target.")
                target_format(path)  # .wav or .flac; the folders are made when the files are written
        except (ValueError, OSError) as error:
            decided.append(_failed(row, error))
            continue
        if not overwrite and all(os.path.isfile(path) for path in row["targets"]):
            row["status"] = "skipped"
            decided.append(row)
        else:
            todo.append(row)
    return decided, todo


def _row(source, targets):
    return {"source": source, "targets": targets, "status": None, "seconds": None, "error": None, "padded_to": None}


def _failed(row, error):
    row["status"], row["error"] = "failed", " ".join(str(error).splitlines())
    return row


def bucket(samples, length, hop, n_fft):
    """The length a recording of `samples` (up to one chunk of `length`) runs at: the next of a few shared ones.

    Four to an octave, multiples of `hop`: 1, 1.25, 1.5, 1.75, 2, 2.5, 3, 3.5, 4, ... times
    a base of at least `n_fft` (four times `hop` times a power of two), so a recording is
    padded by at most a quarter; `length` itself above them.
    Example: `bucket(5000, 160767, 256, 512)` is 5120.
    """
    unit = hop * 2 ** max(0, math.ceil(math.log2(max(n_fft, 1) / (4 * hop))))
    if samples <= 4 * unit:
        return min(4 * unit, length)
    octave = 2 ** ((samples - 1) // (4 * unit)).bit_length() // 2  # the power of two with 4 * unit * octave < samples
    step = unit * octave
    return min(4 * step + -(-(samples - 4 * step) // step) * step, length)


class _Job:
    """One recording being processed: its open file, writers, chunks and cross-fade."""

    def __init__(self, row, parts, options, created, pad=True):
        self.row, self.stack, self.created = row, contextlib.ExitStack(), created
        try:
            self._open(parts, options, pad)
        except BaseException as error:
            self.abort(error)
            raise

    def _open(self, parts, options, pad):
        row = self.row
        self.file = self.stack.enter_context(open_audio(row["source"]))
        self.rate = parts.check_source(self.file, options["resample"])
        self.total, self.starts, self.sizes, (_, overlap, self.length, _) = parts.chunks(
            self.file, self.rate, options["chunk_seconds"], options["overlap_seconds"]
        )
        if len(self.starts) == 1:  # run once, padded to its bucket (or at its own length)
            self.length = bucket(self.total, self.length, parts.hop, parts.n_fft) if pad else self.total
            self.sizes = [self.length]
            row["padded_to"] = self.length if self.length != self.total else None
        self.join = Crossfade(self.starts, self.length, overlap)
        for path in row["targets"]:
            self._folder(os.path.dirname(os.path.abspath(path)))
        fmts = [check_target(row["source"], path) for path in row["targets"]]
        subtypes = [target_subtype(fmt, self.file, options["subtype"], path) for fmt, path in zip(fmts, row["targets"])]
        temporaries = self.stack.enter_context(atomic_writes(row["targets"]))
        self.writers = []
        for temporary, path, fmt, subtype in zip(temporaries, row["targets"], fmts, subtypes):
            writer = BlockWriter(temporary, path, fmt, subtype, self.file, self.rate, options["clip"])
            self.stack.callback(writer.close)
            self.writers.append(writer)
        self.next, self.credited = 0, 0

    def _folder(self, folder):
        missing = []
        while not os.path.isdir(folder):
            if os.path.exists(folder):
                raise NotADirectoryError(f"{folder} is a file, not a folder: it cannot hold {self.row['targets'][0]}.")
            missing.append(folder)
            folder = os.path.dirname(folder)
        for path in reversed(missing):
            os.mkdir(path)
            self.created.append(path)

    def read(self):
        """The samples of the next chunk, and the size to run them at (zero-padded)."""
        start, size = self.starts[self.next], self.sizes[self.next]
        wave = read_part(self.file, start, min(start + self.length, self.total), self.rate)
        self.next += 1
        return wave, size

    def write(self, result):
        """Takes the output of the next chunk `(samples, sources, channels)`; True when the recording is done."""
        block = self.join(result)
        for k, writer in enumerate(self.writers):
            writer(block[:, k])
        if self.join.index < len(self.starts):
            return False
        for writer in self.writers:
            writer.finish()
        self.stack.close()  # renames the temporaries to the targets
        return True

    def abort(self, error):
        """Removes its temporaries; `error` is the reason."""
        self.stack.__exit__(type(error), error, error.__traceback__)


def run(model, parts, todo, batch_size, progress, **options):
    """Processes the rows of `todo` (from `plan`), batching their chunks; sets their status.

    The recordings go shortest first, so that consecutive ones share a length to run at
    (a chunk's, or a short recording's `bucket`): a batch holds items of one length.
    """
    queue = []  # [(job, wave)] of the next batch
    open_jobs, created = [], []  # the folders made, removed at the end if nothing was written into them
    done_seconds, widest = [0.0], [0]  # widest: the largest batch run so far (a smaller one pads to it)

    def advance(seconds):
        if progress is not None:
            done_seconds[0] += seconds
            progress.update(done_seconds[0])

    def credit(job, samples):
        advance((samples - job.credited) / job.rate)
        job.credited = samples

    def fail(job, error):
        if job.row["status"] is None:
            _failed(job.row, error)
            job.abort(error)
            open_jobs.remove(job)
            credit(job, job.total)

    def flush():
        items = [(job, wave) for job, wave, _ in queue if job.row["status"] is None]
        length = queue[0][2] if queue else None
        queue.clear()
        if not items:
            return
        size = min(batch_size, max(widest[0], 2 ** math.ceil(math.log2(len(items))))) if call is None else len(items)
        widest[0] = size
        batch = np.zeros((size, length, items[0][1].shape[1]), "float32")
        for i, (_, wave) in enumerate(items):
            batch[i, : len(wave)] = wave
        try:
            outputs = files.predict(model, batch, parts, call)
        except Exception as error:  # the model refused this batch (each backend raises its own kinds): its files fail
            for job, _ in items:
                fail(job, error)
            return
        for (job, wave), result in zip(items, outputs):
            if job.row["status"] is not None:
                continue
            try:
                result = result[: len(wave)]
                files.check_finite(result)
                if job.write(result):
                    job.row["status"] = "done"
                    open_jobs.remove(job)
                credit(job, min(job.starts[job.join.index - 1] + job.length, job.total))
            except (ValueError, OSError, RuntimeError) as error:
                fail(job, error)

    call = _traced_once(model, parts)
    restore = files._on_sigterm()
    try:
        for row in sorted(todo, key=lambda row: (row["seconds"], row["source"])):
            try:
                job = _Job(row, parts, options, created, pad=call is None)
            except (ValueError, OSError) as error:
                _failed(row, error)
                advance(row["seconds"])
                continue
            open_jobs.append(job)
            while job.row["status"] is None and job.next < len(job.starts):
                try:
                    wave, size = job.read()
                except (ValueError, OSError) as error:
                    fail(job, error)
                    break
                if queue and queue[0][2] != size:
                    flush()
                queue.append((job, wave, size))
                if len(queue) == batch_size:
                    flush()
        flush()
    except BaseException as error:
        for job in list(open_jobs):
            job.abort(error)
        raise
    finally:
        restore()
        for folder in reversed(created):
            with contextlib.suppress(OSError):
                os.rmdir(folder)


def _traced_once(model, parts):
    """Under TensorFlow, the model in one `tf.function` for every batch and length, else None (`predict_on_batch`).

    Keras' predict function traces again for each new shape until it has relaxed the
    batch and length axes (up to three traces, a second or more each for a network):
    one trace with both axes unknown serves every batch of a corpus. Shapes then cost
    nothing, so nothing is padded: short recordings run at their own length, and
    batches hold only the items they have (measured on 2 CPU cores with the denoise
    example's network, padding to shared lengths made TensorFlow slower).
    """
    if keras.backend.backend() != "tensorflow" or not isinstance(model, keras.Model) or parts.channels is None:
        return None
    import tensorflow as tf

    shape = (None, parts.channels, None) if parts.channels_first else (None, None, parts.channels)
    return tf.function(lambda x: model(x, training=False), input_signature=[tf.TensorSpec(shape, "float32")])

"""Audio files in and out: parts of a file read (at its rate, or converted with soxr), targets
checked, results written whole or not at all.

numpy and soundfile only, no Keras: the command checks its files with it before the backend loads.
`load_audio` (`keras_spectro.audio`), `save_wav` (`keras_spectro.utils`), `process_file`,
`process_files` and `keras-spectro` all read and write through here.
"""

import contextlib
import io
import math
import os
import secrets
import warnings

import numpy as np
import soundfile

FORMATS = {".wav": "WAV", ".flac": "FLAC"}  # what a target's extension writes
UNBOUNDED = ("FLOAT", "DOUBLE")  # subtypes that hold values beyond [-1, 1]
BITS = {"PCM_S8": 8, "PCM_U8": 8, "PCM_16": 16, "PCM_24": 24, "PCM_32": 32}  # others: 8 bits (the coarsest)


# --- reading ------------------------------------------------------------------------------------
def open_audio(path):
    """Opens an audio file for reading (a `soundfile.SoundFile`), with errors that name it.

    Example: `with open_audio("long.flac") as file: print(file.frames, file.samplerate)`
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such audio file.")
    try:
        file = soundfile.SoundFile(path)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as error:
        raise ValueError(f"{path}: not an audio file that can be read ({error}).") from None
    if file.frames <= 0:
        file.close()
        raise ValueError(f"{path}: the file holds no samples.")
    return file


def check_file(file, sample_rate=None, channels=None, resample=False):
    """A ValueError naming an open file unless it is at `sample_rate` (or `resample`) with `channels` or one channel."""
    if sample_rate is not None and file.samplerate != sample_rate and not resample:
        raise ValueError(
            f"{file.name}: sample rate {file.samplerate} Hz, expected {sample_rate} Hz (pass resample=True to convert it)."
        )
    if channels is not None and file.channels not in (1, channels):
        raise ValueError(f"{file.name}: {file.channels} channels, expected {channels} (only mono is repeated).")


def read_frames(file, start, stop):
    """Samples `start:stop` of an open file as float32 `(samples, channels)`; only those are read."""
    try:
        file.seek(start)
        return file.read(stop - start, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError) as error:
        raise ValueError(f"{file.name}: not an audio file that can be read ({error}).") from None


def resampled_length(frames, rate, new_rate):
    """The sample count of `frames` samples converted from `rate` to `new_rate` (as soxr rounds it; `frames` at `rate`)."""
    return (2 * frames * new_rate + rate) // (2 * rate)


def import_soxr():
    """The soxr module, or an ImportError that says how to install it."""
    try:
        import soxr
    except ImportError:
        raise ImportError('resample=True needs soxr: pip install "keras_spectro[resample]"') from None
    return soxr


def read_resampled(file, start, stop, rate):
    """Samples `start:stop` at `rate` of an open file: reads that part plus some context and converts it."""
    soxr = import_soxr()
    if not float(rate).is_integer():
        raise ValueError(f"{file.name}: cannot convert to {rate} Hz: files hold a whole number of Hz.")
    rate, source = int(rate), file.samplerate
    common = math.gcd(source, rate)
    context = 1024 * -(-source // rate)  # 4x the longest filter measured for soxr "HQ"
    # a part that starts where a source and an output sample coincide converts as the whole file does
    first = max(0, (start * source // rate - context) // (source // common))
    wave = read_frames(file, first * (source // common), min(file.frames, -(-stop * source // rate) + context))
    skip = start - first * (rate // common)
    return soxr.resample(wave, source, rate, quality="HQ")[skip : skip + stop - start]


def read_part(file, start, stop, rate):
    """Samples `start:stop` at `rate` (the file's, or another with soxr) of an open file."""
    return read_resampled(file, start, stop, rate) if rate != file.samplerate else read_frames(file, start, stop)


# --- targets ------------------------------------------------------------------------------------
def target_format(target):
    """`"WAV"` or `"FLAC"`, by the target's extension; any other is a ValueError naming it."""
    fmt = FORMATS.get(os.path.splitext(os.fspath(target))[1].lower())
    if fmt is None:
        raise ValueError(f"{os.fspath(target)}: the target must end in .wav or .flac (it picks the format).")
    return fmt


def check_target(source, target):
    """The target's format (`"WAV"` or `"FLAC"`), after checking that `target` can be written and is not `source`."""
    source, target = os.fspath(source), os.fspath(target)
    fmt = target_format(target)
    folder = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{target}: the folder {folder} does not exist.")
    if os.path.isdir(target):
        raise IsADirectoryError(f"{target}: is a folder, not a file name.")
    if os.path.exists(target) and os.path.exists(source) and os.path.samefile(source, target):
        raise ValueError(f"{target}: is the source recording itself; write the result to another file.")
    return fmt


def target_subtype(fmt, file, subtype, target):
    """The subtype to write: `subtype`, else the source's when `fmt` can write it, else PCM_24."""
    if subtype is None:
        return file.subtype if _writable(fmt, file.subtype, file.samplerate, file.channels) else "PCM_24"
    check_subtype(fmt, subtype, file.samplerate, file.channels, target)
    return subtype


def check_subtype(fmt, subtype, rate, channels, target):
    """A ValueError naming `target` unless libsndfile writes `fmt` files of `subtype` at `rate` with `channels`."""
    if not _writable(fmt, subtype, rate, channels):
        if _writable(fmt, subtype, 44100, 1):  # the subtype is fine: the rate or channel count is not
            raise ValueError(
                f"{target}: libsndfile cannot write {fmt} {subtype} with {channels} channel(s) at {rate} Hz."
            )
        writable = sorted(name for name in soundfile.available_subtypes(fmt) if _writable(fmt, name, rate, channels))
        raise ValueError(f"{target}: {fmt} files cannot hold subtype {subtype!r}; pick one of {writable}.")


def _writable(fmt, subtype, rate, channels):
    """Whether libsndfile writes `fmt` files of `subtype` (`check_format` also says yes to some it only reads)."""
    if not isinstance(subtype, str) or not soundfile.check_format(fmt, subtype):
        return False
    try:
        soundfile.SoundFile(io.BytesIO(), "w", rate, channels, subtype, format=fmt).close()
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError):
        return False
    return True


# --- writing ------------------------------------------------------------------------------------
def fit_to_subtype(block, subtype, clip, rate, offset=0):
    """`block` `(samples, channels)` made to fit what `subtype` holds: (block, samples clipped).

    FLOAT and DOUBLE hold anything. Other subtypes hold [-1, 1]: values within half a step of
    the subtype beyond it (float rounding of a 0 dBFS recording) become ±1 silently; further
    ones raise a ValueError naming the peak and its time (`offset`: the block's first sample
    in the file), or with `clip` are clipped and counted.

    Example: `fit_to_subtype(np.array([[1.00001]], "float32"), "PCM_16", False, 16000)` → ([[1.0]], 0).
    """
    subtype = subtype.upper()  # libsndfile takes "float" for FLOAT
    if subtype in UNBOUNDED or not block.size:
        return block, 0
    limit = 1.0 + 0.5 / 2 ** (BITS.get(subtype, 8) - 1)  # half an LSB
    where = int(np.abs(block).max(axis=1).argmax())
    peak = float(np.abs(block[where]).max())
    if peak > limit and not clip:
        raise ValueError(
            f"The model's output reaches {peak:.4g} at {(offset + where) / rate:.3f} s, beyond the [-1, 1] "
            f"that {subtype} holds; nothing was written. "
            "Pass clip=True (--clip) to clip it, or write a FLOAT WAV."
        )
    return np.clip(block, -1, 1), int(np.count_nonzero(np.abs(block) > limit))


def write_audio(path, wave, rate, subtype, clip=False, fmt=None):
    """Writes float `(samples, channels)` or mono `(samples,)` audio whole or not at all; returns the samples clipped.

    `fmt`: `"WAV"` or `"FLAC"`, by default from the extension. NaN or inf, an empty
    wave, a rate that is not a positive integer or a subtype the format cannot hold
    are refused (nothing is written); values beyond what `subtype` holds are refused
    or, with `clip`, clipped (`fit_to_subtype`).

    Example: `write_audio("out.flac", wave, 44100, "PCM_24")`
    """
    path = os.fspath(path)
    wave = np.asarray(wave, "float32")
    if wave.ndim not in (1, 2) or wave.size == 0:
        raise ValueError(f"{path}: expected audio of shape (samples, channels) or (samples,); got {wave.shape}.")
    bad = wave.size - np.count_nonzero(np.isfinite(wave))
    if bad:
        raise ValueError(f"{path}: the audio holds {bad} NaN or inf samples; nothing was written.")
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) or rate <= 0:
        raise ValueError(f"{path}: sample_rate must be a positive integer; got {rate!r}.")
    fmt = fmt or target_format(path)
    check_subtype(fmt, subtype, int(rate), 1 if wave.ndim == 1 else wave.shape[1], path)
    wave, clipped = fit_to_subtype(wave.reshape(len(wave), -1), subtype, clip, rate)
    with atomic_write(path) as temporary, open(temporary, "xb") as file:
        soundfile.write(file, wave, int(rate), subtype=subtype, format=fmt)
    return clipped


@contextlib.contextmanager
def atomic_write(path):
    """Yields a fresh hidden file name beside `path`: renamed to `path` when the block ends, removed if it fails.

    The file appears whole or not at all. Example:
    `with atomic_write("out.wav") as temporary: soundfile.write(temporary, wave, 44100, format="WAV")`
    """
    with atomic_writes([path]) as (temporary,):
        yield temporary


@contextlib.contextmanager
def atomic_writes(paths):
    """`atomic_write` for several files: yields one temporary per path; all are renamed when the block ends, or none.

    Example: `with atomic_writes(["a.wav", "b.wav"]) as (a, b): ...`
    """
    temporaries = []
    for path in paths:
        folder, name = os.path.split(os.path.abspath(path))
        temporaries.append(os.path.join(folder, f".{name}.{secrets.token_hex(4)}.tmp"))
    try:
        yield temporaries
        for temporary, path in zip(temporaries, paths):
            os.replace(temporary, path)
    except BaseException:
        for temporary in temporaries:
            if os.path.exists(temporary):
                os.remove(temporary)
        raise


class BlockWriter:
    """Writes blocks at the model's `rate` into `temporary` (beside `target`), at the recording's rate and length.

    Example: `writer = BlockWriter(temporary, "out.wav", "WAV", "PCM_24", source_file, 16000, clip=False)`,
    then `writer(block)` per block, `writer.finish()` at the end and `writer.close()` always.
    """

    def __init__(self, temporary, target, fmt, subtype, file, rate, clip):
        self.target, self.subtype, self.clip, self.clipped = target, subtype, clip, 0
        self.frames, self.rate, self.done, self.shortfall = file.frames, file.samplerate, 0, 0
        self.stream = None
        if rate != file.samplerate:
            self.stream = import_soxr().ResampleStream(
                rate, file.samplerate, file.channels, dtype="float32", quality="HQ"
            )
            # model-rate samples past the end (zeros) that still give the recording's full sample count
            self.shortfall = (
                max(0, -(-file.frames * rate // file.samplerate) - resampled_length(file.frames, file.samplerate, rate))
                + 2
            )
        self.temporary = temporary
        self.out = self._do(soundfile.SoundFile, temporary, "x", file.samplerate, file.channels, subtype, format=fmt)

    def _do(self, action, *args, **kwargs):
        """Runs a soundfile call; its errors name the target, not the temporary."""
        try:
            return action(*args, **kwargs)
        except (soundfile.LibsndfileError, RuntimeError) as error:
            reason = getattr(error, "error_string", None) or str(error).replace(self.temporary, self.target)
            raise OSError(f"{self.target}: cannot write {self.subtype} audio ({reason}).") from None

    def __call__(self, block, last=False):
        if self.stream is not None:
            block = self.stream.resample_chunk(block, last=last)
        block = block[: self.frames - self.done]
        block, clipped = fit_to_subtype(block, self.subtype, self.clip, self.rate, self.done)
        self.clipped += clipped
        self._do(self.out.write, block)
        self.done += len(block)

    def finish(self):
        if self.stream is not None:
            self(np.zeros((self.shortfall, self.out.channels), "float32"), last=True)
        if self.done != self.frames:
            raise RuntimeError(f"{self.target}: wrote {self.done} samples instead of {self.frames}.")
        self._do(self.out.close)
        if self.clipped:
            warnings.warn(f"{self.target}: {self.clipped} samples outside [-1, 1] were clipped.", stacklevel=3)

    def close(self):
        try:
            self.out.close()
        except (soundfile.LibsndfileError, RuntimeError):
            pass

"""The `keras-spectro` command: show, roundtrip, apply, stream, demo."""

import argparse
import contextlib
import os
import pathlib
import sys

import numpy as np

from keras_spectro.audio_io import check_target, open_audio, target_format, target_subtype, write_audio


def show(args):
    from keras_spectro.cli import overview

    out = args.output or f"{pathlib.Path(args.file).stem}.png"
    overview.draw(args.file, out, args.start, args.duration, args.n_fft, args.hop, args.top_db)
    print(f"Wrote {out}")


def _one_file(args):
    """Whether `apply` takes one recording to one file (or one per source), as `process_file` does."""
    from keras_spectro.corpus import target_is_folder

    (source,) = args.source if len(args.source) == 1 else (None,)
    return (
        source is not None
        and os.path.isfile(source)
        and not target_is_folder(source, args.output)
        and "{stem}" not in args.output
        and "{parent}" not in args.output
        and not (args.report or args.ray)
    )


def _load_model(path):
    import keras

    try:
        return keras.models.load_model(path, compile=False)
    except Exception as error:  # Keras raises many kinds here, often over several lines
        raise ValueError(f"{path}: not a Keras model that loads ({error})") from None


def _warnings_as_lines(run):
    """Runs `run()`; what it warns from keras_spectro (e.g. what --clip clipped) becomes one line each on stderr."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run()
    for warning in caught:  # no library noise
        if issubclass(warning.category, UserWarning) and "keras_spectro" in warning.filename:
            print("keras-spectro: warning:", warning.message, file=sys.stderr)
    return result


def apply(args):
    if not _one_file(args):
        return apply_many(args)
    import time

    from keras_spectro import audio

    (source,) = args.source
    # the cheap checks first, so that a wrong path fails before the model loads (main has checked that both files exist)
    with open_audio(source) as file:
        seconds, channels, rate = file.frames / file.samplerate, file.channels, file.samplerate
    check_target(source, args.output)  # each source's file is checked once the model says how many
    model = _load_model(args.model)
    begin = time.perf_counter()
    # a progress bar (Keras prints it on stdout) only for a person watching
    verbose = int(sys.stdout.isatty())
    written = _warnings_as_lines(
        lambda: audio.process_file(
            model,
            source,
            args.output,
            args.chunk_seconds,
            args.overlap_seconds,
            args.subtype,
            verbose,
            args.clip,
            args.resample,
        )
    )
    took = max(time.perf_counter() - begin, 1e-6)
    written = [written] if isinstance(written, str) else written
    with open_audio(written[0]) as file:
        subtype = file.subtype
    print(
        f"Wrote {', '.join(written)}: {seconds:.1f} s, {channels} channel(s) at {rate} Hz, {subtype}, in {took:.1f} s ({seconds / took:.1f}x real time)"
    )


def apply_many(args):
    """`apply` over several recordings (`process_files`, or on Ray with --ray): a line per failure, the summary."""
    from keras_spectro import audio
    from keras_spectro.corpus import summary

    verbose = int(sys.stdout.isatty())  # the progress bar and the summary, for a person watching
    sources = args.source[0] if len(args.source) == 1 else args.source
    options = dict(
        batch_size=args.batch_size,
        chunk_seconds=args.chunk_seconds,
        overlap_seconds=args.overlap_seconds,
        subtype=args.subtype,
        clip=args.clip,
        resample=args.resample,
        overwrite=args.overwrite,
        report=args.report,
        verbose=verbose,
    )
    if args.ray:
        from keras_spectro import distributed

        _load_model(args.model)  # a model that does not load is one error here, not one per worker
        rows = _warnings_as_lines(lambda: distributed.process_files(args.model, sources, args.output, **options))
    else:
        model = _load_model(args.model)
        rows = _warnings_as_lines(lambda: audio.process_files(model, sources, args.output, **options))
    for row in rows:
        if row["status"] == "failed":
            print(f"keras-spectro: failed: {row['source']}: {row['error']}", file=sys.stderr)
    if not verbose:
        print(summary(rows))
    return int(any(row["status"] == "failed" for row in rows))


def stream(args):
    import time

    import keras

    from keras_spectro import audio
    from keras_spectro.streaming import Streamer

    # the cheap checks first, so that a wrong path fails before the model loads (main has checked that both files exist)
    fmt = check_target(args.source, args.output)  # .wav or .flac, in a folder that exists, not the source
    wave = audio.load_audio(args.source)
    with open_audio(args.source) as file:
        rate = file.samplerate
        subtype = target_subtype(fmt, file, args.subtype, args.output)  # the source's, as apply writes
    try:
        model = keras.models.load_model(args.model, compile=False)
    except Exception as error:  # Keras raises many kinds here, often over several lines
        raise ValueError(f"{args.model}: not a Keras model that loads ({error})") from None
    streamer = Streamer(model, compiled=True)  # compiled per shape on TensorFlow and JAX: 8-20x faster per block
    if streamer.domain.sample_rate is not None and streamer.domain.sample_rate != rate:
        raise ValueError(
            f"{args.source}: recorded at {rate} Hz but the model is made for {streamer.domain.sample_rate} Hz."
        )
    if wave.shape[1] != streamer.channels:
        raise ValueError(f"{args.source}: {wave.shape[1]} channel(s) but the model takes {streamer.channels}.")
    block = max(1, round(args.block_ms * rate / 1000))
    outs, times = [], []
    with _one_torch_thread():  # small ops per block: real-time factor 0.68 on one thread, 11.4 on the pool
        streamer.warm_up(block)  # every shape compiled before the first block, as a live stream would need
        for start in range(0, len(wave), block):  # as a live source delivers it
            begin = time.perf_counter()
            outs.append(streamer.process(wave[start : start + block]))
            times.append(time.perf_counter() - begin)
        outs.append(streamer.flush())
    out = np.concatenate(outs)
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{args.model}: the output holds NaN or inf; nothing written.")
    _save(args.output, out, rate, subtype, args.clip)
    seconds = block / rate
    worst, mean = max(times) / seconds, sum(times) / len(times) / seconds
    print(
        f"Wrote {args.output}: {len(out) / rate:.1f} s, {out.shape[1]} channel(s) at {rate} Hz, in blocks of {block} samples ({1000 * seconds:g} ms)"
    )
    print(
        f"latency {streamer.latency} samples ({1000 * streamer.latency / rate:.1f} ms); real-time factor mean {mean:.3f}, worst block {worst:.3f}"
    )


@contextlib.contextmanager
def _one_torch_thread():
    """On PyTorch, runs the block on one intra-op thread, then gives back the caller's count (`main` runs in-process too)."""
    import keras

    if keras.backend.backend() != "torch":
        yield
        return
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def roundtrip(args):
    import keras

    from keras_spectro import audio
    from keras_spectro.layers import STFTSplit

    with open_audio(args.file) as file:
        rate = file.samplerate
    wave = audio.load_audio(args.file)
    stft = STFTSplit(n_fft=args.n_fft, hop_length=args.hop, representation=args.representation)
    images = stft(wave[None])
    back = keras.ops.convert_to_numpy(stft.inverse()(images))[0]
    error = np.abs(back - wave).max()
    snr = 10 * np.log10(np.sum(wave**2) / max(np.sum((back - wave) ** 2), 1e-30))
    out = args.output or f"{pathlib.Path(args.file).stem}_roundtrip.wav"
    _save(out, back, rate)  # .wav: FLOAT; .flac: PCM_24
    print(f"{args.file}: {tuple(wave.shape)} -> images {tuple(images.shape)} -> {tuple(back.shape)}")
    print(f"max abs error {error:.3e} (peak {np.abs(wave).max():.3f}), SNR {snr:.1f} dB")
    print(f"Wrote {out}")


def run_demo(args):
    from keras_spectro.cli.demo import run

    run(out_dir=args.output, epochs=args.epochs)


def _save(path, wave, rate, subtype=None, clip=False):
    """Writes `(samples, channels)` to a .wav (FLOAT unless `subtype`) or .flac (PCM_24 unless `subtype`) file, by
    the extension, whole or not at all; values beyond what the subtype holds are refused, or clipped with `clip`,
    as `apply` does."""

    subtype = (subtype or ("FLOAT" if target_format(path) == "WAV" else "PCM_24")).upper()  # FLAC holds integers only
    clipped = write_audio(path, wave, rate, subtype, clip)
    if clipped:
        print(f"warning: {path}: {clipped} samples outside [-1, 1] were clipped.", file=sys.stderr)


def _number(positive, unit):
    """An argparse type: a finite float, positive or non-negative."""

    def parse(text):
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not (0 < value < float("inf") if positive else 0 <= value < float("inf")):
            raise argparse.ArgumentTypeError(
                f"must be a {'positive' if positive else 'non-negative'} number of {unit}; got {text!r}"
            )
        return value

    return parse


def _positive(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer; got {text!r}")
    return value


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit status 1, as every other error
        self.exit(1, f"keras-spectro: error: {message} (see {self.prog} --help)\n")


def _model_source_output(command, model_help, output_more="", many=False):
    """The arguments `apply` and `stream` share: the model, the recording(s) and the result."""
    command.add_argument("model", help=model_help)
    if many:
        command.add_argument(
            "source",
            nargs="+",
            help="the recording (any format libsndfile reads); or several, folders (searched recursively) or glob patterns",
        )
    else:
        command.add_argument("source", help="the recording (any format libsndfile reads)")
    command.add_argument(
        "-o",
        "--output",
        required=True,
        help="the result, a .wav or .flac file (the extension picks the format)" + output_more,
    )


def parser():
    top = _Parser(prog="keras-spectro", description="Spectrogram images of audio files, and back.")
    commands = top.add_subparsers(dest="command", required=True)
    for name, helptext in (
        ("show", "plot the spectrogram (dB) and waveform of each channel"),
        ("roundtrip", "encode and decode, report the error"),
    ):
        command = commands.add_parser(name, help=helptext)
        command.add_argument("file", help="the recording (any format libsndfile reads)")
        command.add_argument(
            "-o", "--output", help="output file (default: in the current directory, named after the input)"
        )
        command.add_argument("--n-fft", type=_positive, default=2048, help="FFT size in samples (default: 2048)")
        command.add_argument("--hop", type=_positive, help="samples between frames (default: n_fft // 4)")
        if name == "show":
            command.add_argument(
                "--start",
                type=_number(False, "seconds"),
                default=0.0,
                help="show from this time on, in seconds (default: 0)",
            )
            command.add_argument(
                "--duration", type=_number(True, "seconds"), help="show this many seconds (default: to the end)"
            )
            command.add_argument(
                "--top-db",
                type=_number(True, "dB"),
                default=80.0,
                help="the colour scale's range below the peak, in dB (default: 80)",
            )
        if name == "roundtrip":
            command.add_argument(
                "--representation",
                choices=["real_imag", "mag_phase"],
                default="real_imag",
                help="the two image channels per audio channel: real and imaginary parts, or magnitude and phase (default: real_imag)",
            )
    command = commands.add_parser(
        "apply", help="run a saved audio-to-audio model over a recording of any length, chunk by chunk"
    )
    _model_source_output(
        command,
        "a .keras file: a model from waveforms to waveforms (e.g. holding a SpectrogramDomain)",
        "; for a model with several sources, a name with {source} in it, which becomes 0, 1, ... (one file per source). "
        "For several recordings or a folder: a folder (the sources' tree mirrored), or a template with {stem}, "
        "{parent} and {source}, e.g. 'out/{parent}/{stem}_clean.flac'",
        many=True,
    )
    command.add_argument(
        "--batch-size",
        type=_positive,
        default=8,
        help="several recordings: the most chunks or short recordings in one predict call (default: 8)",
    )
    command.add_argument(
        "--overwrite", action="store_true", help="several recordings: redo targets that exist (default: skip them)"
    )
    command.add_argument(
        "--report", help="write one CSV row per recording (source,targets,status,seconds,error) to this file"
    )
    command.add_argument(
        "--ray",
        action="store_true",
        help="spread the recordings over a Ray cluster (the running one, RAY_ADDRESS, or a local one)",
    )
    command.add_argument(
        "--chunk-seconds", type=_number(True, "seconds"), default=10.0, help="seconds processed at a time (default: 10)"
    )
    command.add_argument(
        "--overlap-seconds",
        type=_number(False, "seconds"),
        default=1.0,
        help="overlap of consecutive chunks, cross-faded (default: 1)",
    )
    command.add_argument(
        "--subtype",
        help="e.g. PCM_16, PCM_24, FLOAT (default: the source's, else PCM_24: float into FLAC, MP3 or Ogg into WAV)",
    )
    command.add_argument(
        "--clip",
        action="store_true",
        help="clip output beyond [-1, 1] (with a warning) instead of refusing it, for subtypes other than FLOAT and DOUBLE",
    )
    command.add_argument(
        "--resample",
        action="store_true",
        help="convert a recording at another rate than the model's to the model's rate, and the output back",
    )
    command = commands.add_parser(
        "stream",
        help="run a saved SpectrogramDomain model over a recording block by block, as on live audio; report latency and real-time factor",
    )
    _model_source_output(command, "a .keras file holding a SpectrogramDomain (of one source)")
    command.add_argument(
        "--clip",
        action="store_true",
        help="clip output beyond [-1, 1] (with a warning) instead of refusing it, for subtypes other than FLOAT and DOUBLE",
    )
    command.add_argument(
        "--block-ms",
        type=_number(True, "milliseconds"),
        default=10.0,
        help="the block length a live source delivers, in ms (default: 10)",
    )
    command.add_argument("--subtype", help="e.g. PCM_16, PCM_24, FLOAT (default: the source's, else PCM_24, as apply)")
    command = commands.add_parser("demo", help="synthesise audio, train a small denoiser, write WAVs and a PNG")
    command.add_argument("-o", "--output", default="spectro_demo", help="output folder (default: spectro_demo)")
    command.add_argument("--epochs", type=_positive, default=12, help="training epochs (default: 12)")
    return top


def main(argv=None):
    # TensorFlow reads these once, as it loads: unless the user chose otherwise, no log lines around the command's
    # output (TensorFlow 2.21 prints its oneDNN notice, and absl's line before it, whatever the level)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    args = parser().parse_args(argv)
    if getattr(args, "hop", 0) is None:
        args.hop = args.n_fft // 4
    for name, kind in (("model", "model"), ("file", "audio"), ("source", "audio")):
        path = getattr(args, name, None)
        if name == "source" and args.command == "apply":  # several, folders or globs are process_files' to list
            path = args.source[0] if len(args.source) == 1 and not _many_sources(args.source[0]) else None
        if path is not None and not os.path.isfile(path):  # before Keras and the backend load, which takes seconds
            print(f"keras-spectro: error: {path}: no such {kind} file.", file=sys.stderr)
            return 1
        try:  # numpy and soundfile only: no Keras yet
            if path is not None and kind == "audio":
                open_audio(path).close()
            if name == "file" and args.command == "roundtrip" and args.output:
                target_format(args.output)
        except ValueError as error:
            print("keras-spectro: error:", " ".join(str(error).splitlines()), file=sys.stderr)
            return 1
    # Keras, the backend, and the layers registered for load_model (`keras_spectro/__init__.py` left them to us)
    from keras_spectro import audio, layers  # noqa: F401
    from keras_spectro.files import Terminated

    try:
        status = {"show": show, "roundtrip": roundtrip, "apply": apply, "stream": stream, "demo": run_demo}[
            args.command
        ](args)
    except (ValueError, OSError, RuntimeError, ImportError) as error:  # ImportError: an optional package missing
        print("keras-spectro: error:", " ".join(str(error).splitlines()), file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # process_file has removed its temporary file
        print("keras-spectro: interrupted", file=sys.stderr)
        return 130
    except Terminated as stop:  # SIGTERM, after the same cleanup
        print("keras-spectro: terminated", file=sys.stderr)
        return stop.code
    return status or 0


def _many_sources(source):
    """Whether a source argument is a folder or a glob pattern."""
    import glob

    return os.path.isdir(source) or glob.has_magic(source)


if __name__ == "__main__":
    sys.exit(main())

"""`keras-spectro apply` and `show` on a 10-second and a 10-minute recording: peak RSS and time.

Each command runs in a fresh process, as a user runs it; its peak RSS comes from
`os.wait4` (this process imports no Keras until the end: a child's peak counts
the parent's pages it was forked with). "work s" is apply's own timing of
`process_file`, and for show the wall time less that of `keras-spectro --help`
(Python, Keras and the backend starting up). apply's model is STFT-only: SpectrogramDomain
with STFTSplit(n_fft=2048) and a SpectrogramScaler, so the figures are the cost of
the chunked reading, transforms and writing, not of a network.
"""

import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import soundfile

CACHE = pathlib.Path(os.environ.get("BENCH_DATA", "/tmp/keras_spectro_bench"))  # as common.py, which imports Keras
RATE = 44100
LENGTHS = {"10 s": 10, "1 min": 60, "10 min": 600}


def recording(seconds):
    """A stereo 44.1 kHz PCM_16 file of tones and noise, written a minute at a time (made once)."""
    path = CACHE / f"long_{seconds}s.wav"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(0)
        with soundfile.SoundFile(path, "w", RATE, 2, "PCM_16") as file:
            for start in range(0, seconds * RATE, 60 * RATE):
                t = np.arange(start, min(start + 60 * RATE, seconds * RATE))[:, None] / RATE
                file.write(
                    0.3 * np.sin(2 * np.pi * np.array([220.0, 330.0]) * t) + 0.05 * rng.standard_normal((len(t), 2))
                )
    return path


def stft_model(path):
    """Run in a child process (`long_recording.py model PATH`)."""
    import keras

    import keras_spectro as ks

    pipeline = ks.SpectrogramPipeline([ks.STFTSplit(n_fft=2048), ks.SpectrogramScaler("standard", axis="channels")])
    pipeline.adapt(ks.audio.load_audio(recording(10), length=RATE)[None])
    keras.Sequential([keras.Input((None, 2)), ks.SpectrogramDomain(pipeline)]).save(path)


def run(*args):
    """(wall seconds, peak RSS MB, stdout) of `python -m keras_spectro ARGS` in a fresh process."""
    with tempfile.TemporaryFile("w+") as out:
        start = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "-m", "keras_spectro", *map(str, args)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "MPLBACKEND": "Agg"},
        )
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        out.seek(0)
        text = out.read()
    if status:
        raise RuntimeError(f"keras-spectro {' '.join(map(str, args))} failed: {text}")
    return seconds, usage.ru_maxrss / 1024, text


if __name__ == "__main__":
    if sys.argv[1:2] == ["model"]:
        sys.exit(stft_model(sys.argv[2]))
    files = {name: recording(seconds) for name, seconds in LENGTHS.items()}
    startup, startup_rss, _ = run("--help")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        model = os.path.join(folder, "stft_only.keras")
        subprocess.run([sys.executable, __file__, "model", model], check=True)
        for command in ("apply", "show"):
            for name, path in files.items():
                if command == "apply":
                    wall, rss, text = run("apply", model, path, "-o", os.path.join(folder, "out.wav"))
                    work = float(
                        re.search(r" in ([\d.]+) s ", text).group(1)
                    )  # process_file alone, as apply reports it
                else:
                    wall, rss, _ = run("show", path, "-o", os.path.join(folder, "out.png"))
                    work = wall - startup
                rows.append((command, name, wall, work, rss, LENGTHS[name] / work))
    from common import header

    columns = (
        "command",
        "recording",
        "wall s",
        "work s",
        "peak RSS MB",
        "above start-up MB",
        "RSS vs 10 s",
        "work s per audio minute",
        "x real time",
    )
    header(
        f"keras-spectro apply (STFT-only model) and show on stereo 44.1 kHz PCM_16 (fresh process each; start-up {startup:.1f} s, {startup_rss:.0f} MB)",
        columns,
    )
    for command, name, wall, work, rss, speed in rows:
        short = next(r for r in rows if r[:2] == (command, "10 s"))
        print(
            f"| {command} | {name} | {wall:.1f} | {work:.1f} | {rss:.0f} | {rss - startup_rss:.0f} | {rss / short[4]:.2f}x | {60 * work / LENGTHS[name]:.2f} | {speed:.0f}x |"
        )

"""Shared by the benchmarks: the test files, a timer, and the table printer."""

import os
import pathlib
import platform
import statistics
import time

import keras
import numpy as np
import soundfile

RATE, SECONDS, N_FFT, HOP = 44100, 5, 1024, 256
CACHE = pathlib.Path(os.environ.get("BENCH_DATA", "/tmp/keras_spectro_bench"))


def wav_files(count=32):
    """`count` stereo 5 s 16-bit WAV files of noise-like speech stand-ins (made once, then reused)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    files = []
    for i in range(count):
        path = CACHE / f"{i:04d}.wav"
        if not path.exists():
            t = np.arange(RATE * SECONDS) / RATE
            tone = np.sin(2 * np.pi * rng.uniform(100, 1000) * t)[:, None]
            wave = 0.3 * tone + 0.05 * rng.standard_normal((len(t), 2))
            soundfile.write(path, wave, RATE, subtype="PCM_16")
        files.append(path)
    return files


def median_seconds(fn, repeats=5, warmup=1):
    """Median wall time of `fn()` after `warmup` calls; `fn` must block until its result is ready."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def numpy_of(x):
    return keras.ops.convert_to_numpy(x)


def header(title, columns=("what", "median s", "speed-up over the first row")):
    print(
        f"\n### {title} — backend {keras.backend.backend()}, keras {keras.__version__}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}"
    )
    print("| " + " | ".join(columns) + " |\n|" + "---|" * len(columns))


def row(what, seconds, reference=None):
    ratio = f"{reference / seconds:.2f}x" if reference else ""
    print(f"| {what} | {seconds:.4f} | {ratio} |")


def compiled(layer, input_shape, jit_compile=True):
    """`layer` inside a Keras model, called with `predict_on_batch` (XLA / jax.jit / torch.compile)."""
    inputs = keras.Input(input_shape)
    model = keras.Model(inputs, layer(inputs))
    model.compile(jit_compile=jit_compile)
    return lambda x: numpy_of(model.predict_on_batch(x))

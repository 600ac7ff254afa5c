"""The cost of keeping the preprocessing inside the model (issue 23): one epoch of `fit`.

64 stereo 1 s clips at 16 kHz, batch 8, n_fft 512, hop 128, a three-layer Conv2D network:
a `SpectrogramDomain` model (audio in, audio out) against the same network trained on
precomputed images, in one process: after a warm-up epoch each, `--epochs` pairs of epochs, the
pair's order alternating (ABBA), and the ratio taken within each pair (the two epochs share the
machine's load of that moment). Printed: the median of the pair ratios and their interquartile
range, with the medians of the epochs and the load average. Each backend runs in a subprocess;
with default compile settings and with `jit_compile=True`.

    python benchmarks/fit_overhead.py [--backends tensorflow torch jax] [--epochs 10] [--jit default true]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

CLIPS, RATE, BATCH, N_FFT, HOP = 64, 16000, 8, 512, 128


def network():
    import keras

    return keras.Sequential(
        [
            keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
            keras.layers.Conv2D(4, 3, padding="same"),
        ]
    )


def worker(jit, epochs):
    import keras
    import numpy as np

    import keras_spectro as ks

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    clean = (0.3 * np.sin(np.linspace(0, 2000, RATE))[None, :, None] * rng.uniform(0.5, 1, (CLIPS, 1, 2))).astype(
        "float32"
    )
    noisy = (clean + 0.05 * rng.standard_normal(clean.shape)).astype("float32")
    stft = ks.STFTSplit(n_fft=N_FFT, hop_length=HOP)
    images_in, images_out = (keras.ops.convert_to_numpy(stft(x)) for x in (noisy, clean))
    jit_compile = "auto" if jit == "default" else True

    domain = keras.Sequential([keras.Input((RATE, 2)), ks.SpectrogramDomain(ks.SpectrogramPipeline([stft]), network())])
    plain = keras.Sequential([keras.Input(images_in.shape[1:]), network()])
    runs = {"domain": (domain, noisy, clean), "images": (plain, images_in, images_out)}
    for model, _, _ in runs.values():
        model.compile(optimizer="adam", loss="mse", jit_compile=jit_compile)
    times = {name: [] for name in runs}
    for epoch in range(epochs + 1):
        order = list(runs) if epoch % 2 else list(runs)[::-1]  # ABBA: neither model always runs first
        for name in order:
            model, x, y = runs[name]
            start = time.perf_counter()
            model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=False)
            if epoch:  # the first epoch compiles
                times[name].append(time.perf_counter() - start)
    ratios = sorted(d / i for d, i in zip(times["domain"], times["images"]))
    quartiles = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
    result = {name: statistics.median(t) for name, t in times.items()}
    result.update(ratio=statistics.median(ratios), q1=quartiles[0], q3=quartiles[-1], load=os.getloadavg()[0])
    print("RESULT " + json.dumps(result))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "torch", "jax"])
    parser.add_argument("--jit", nargs="+", default=["default", "true"])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--timeout", type=int, default=900)
    args = parser.parse_args()
    print(
        "| backend | jit_compile | epoch on images, s | epoch of the SpectrogramDomain model, s "
        "| median pair ratio (goal ≤ 1.15) | interquartile range | load |\n|---|---|---|---|---|---|---|"
    )
    for backend in args.backends:
        for jit in args.jit:
            env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
            command = [sys.executable, __file__, "--worker", jit, str(args.epochs)]
            try:
                out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=args.timeout)
            except subprocess.TimeoutExpired:
                print(f"| {backend} | {jit} | timed out after {args.timeout} s | | | | |")
                continue
            result = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
            if not result:
                print(f"| {backend} | {jit} | failed: {out.stderr.strip().splitlines()[-1:]} | | | | |")
                continue
            t = json.loads(result[0][7:])
            print(
                f"| {backend} | {jit} | {t['images']:.3f} | {t['domain']:.3f} | {t['ratio']:.2f} "
                f"| {t['q1']:.2f}–{t['q3']:.2f} | {t['load']:.1f} |"
            )
            sys.stdout.flush()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker(sys.argv[2], int(sys.argv[3]))
    else:
        main()

"""Is `MixtureDataset` what training waits for? (issue 30)

The denoise example's data (17 stereo 16 kHz sentences, four 10 s white-noise files, batch 8
of 1 s segments at -5 to 5 dB SNR): batches per second made with 0 workers (the main
thread), and with 2 and 4 workers (threads, and processes), against the training steps per
second of the denoise example's model (`examples/denoise.py`: the `SpectrogramDomain` mask
network, SI-SDR loss, Adam) on one such batch. Each backend runs in a subprocess; the load
(`uptime`) is printed before and after, since the machine may be shared.

    python benchmarks/mixtures.py [--backends tensorflow torch jax] [--batches 20] [--steps 10]

Measured 2026-12-06 on 2 CPU cores shared with three other engineers' jobs (load 5-8 before
and after): 51-119 batches/s in the main thread against 0.5-4.4 training steps/s; workers
(threads or processes) gave fewer batches/s on two busy cores (their pool start included).
"""

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
SETTINGS = [("0 (main thread)", 1, False), ("2 threads", 2, False), ("4 threads", 4, False)]
SETTINGS += [("2 processes", 2, True), ("4 processes", 4, True)]


def batches_per_second(data, workers, processes):
    """One epoch of `data` as `fit` reads it (Keras' PyDataset adapter: its own thread or process pool)."""
    from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter

    data.workers, data.use_multiprocessing = workers, processes
    adapter = PyDatasetAdapter(data, shuffle=False)
    adapter.on_epoch_begin()
    start = time.perf_counter()
    count = sum(1 for _ in adapter.get_numpy_iterator())
    seconds = time.perf_counter() - start
    adapter.on_epoch_end()
    return count / seconds


def worker(batches, steps):
    sys.path.insert(0, str(ROOT / "examples"))
    import keras
    import numpy as np
    from denoise import DATA, HOP, N_FFT, RATE, mask_network, pairs

    import keras_spectro as ks

    from _pairs import write_noise

    noises = write_noise(
        pathlib.Path(os.environ.get("BENCH_DATA", "/tmp/keras_spectro_bench")) / "mixture_noise", 4, 10.0, RATE
    )
    data = pairs(sorted(DATA.glob("*.flac"))[:-3], noises, batches)
    result = {"data": {name: batches_per_second(data, w, p) for name, w, p in SETTINGS}}

    keras.utils.set_random_seed(0)
    to_images = ks.SpectrogramPipeline([ks.STFTSplit(n_fft=N_FFT, hop_length=HOP, representation="mag_phase")])
    model = keras.Sequential([keras.Input((None, 2)), ks.SpectrogramDomain(to_images, mask_network(N_FFT // 2 + 1, 2))])
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss=ks.losses.SISDRLoss())
    noisy, clean = data[0]
    model.train_on_batch(noisy, clean)  # compiles
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        np.asarray(model.train_on_batch(noisy, clean))
        times.append(time.perf_counter() - start)
    result["steps_per_second"] = 1 / statistics.median(times)
    print("RESULT " + json.dumps(result))


def uptime():
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "torch", "jax"])
    parser.add_argument("--batches", type=int, default=20, help="batches per data epoch timed (default: 20)")
    parser.add_argument("--steps", type=int, default=10, help="training steps timed, median (default: 10)")
    parser.add_argument("--timeout", type=int, default=900)
    args = parser.parse_args()
    print(f"Load before: {uptime()}; {os.cpu_count()} cores")
    print(
        "| backend | training steps/s (batch 8 × 1 s) | "
        + " | ".join(f"batches/s, {name}" for name, _, _ in SETTINGS)
        + " |\n|"
        + "---|" * (2 + len(SETTINGS))
    )
    for backend in args.backends:
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
        command = [sys.executable, __file__, "--worker", str(args.batches), str(args.steps)]
        try:
            out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=args.timeout)
        except subprocess.TimeoutExpired:
            print(f"| {backend} | timed out after {args.timeout} s |")
            continue
        result = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
        if not result:
            print(f"| {backend} | failed: {out.stderr.strip().splitlines()[-1:]} |")
            continue
        r = json.loads(result[0][7:])
        print(
            f"| {backend} | {r['steps_per_second']:.2f} | " + " | ".join(f"{v:.1f}" for v in r["data"].values()) + " |"
        )
        sys.stdout.flush()
    print(f"Load after: {uptime()}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker(int(sys.argv[2]), int(sys.argv[3]))
    else:
        main()

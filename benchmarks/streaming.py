"""Real-time streaming speed: the denoise example's network (16 kHz, n_fft=512, hop=256), blocks of 10 ms and of one hop (16 ms).

    KERAS_BACKEND=torch python benchmarks/streaming.py [--seconds 10]

Per-block compute time of `Streamer.process` eager (numpy in and out), of `Streamer.process` with
`compiled=True` after `warm_up` (what `keras-spectro stream` runs) and of the step model
(`Streamer.step_model(256)` run by `predict_on_batch`, blocks of one hop only): mean, 99th percentile
and worst, the real-time factor (compute time / block duration) and the latency. One thread (the
goal: a real-time factor <= 0.25 on one core). Untrained weights: the speed does not depend on them.
"""

import argparse
import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "examples"))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from denoise import HOP, N_FFT, RATE, mask_network  # noqa: E402

import keras_spectro as ks  # noqa: E402
from keras_spectro.streaming import Streamer  # noqa: E402


def one_thread():
    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        torch.set_num_threads(1)
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)


def timed(run, blocks, warmup=20):
    for block in blocks[:warmup]:
        run(block)
    times = []
    for block in blocks[warmup:]:
        begin = time.perf_counter()
        run(block)
        times.append(time.perf_counter() - begin)
    return np.array(times)


def main(seconds):
    one_thread()
    channels = 2
    pipeline = ks.SpectrogramPipeline(
        [ks.STFTSplit(n_fft=N_FFT, hop_length=HOP, representation="mag_phase")], sample_rate=RATE
    )
    model = keras.Sequential(
        [keras.Input((None, channels)), ks.SpectrogramDomain(pipeline, network=mask_network(N_FFT // 2 + 1, channels))]
    )
    streamer, fast = Streamer(model), Streamer(model, compiled=True)
    signal = 0.1 * np.random.default_rng(0).standard_normal((int(seconds * RATE), channels)).astype("float32")
    print(
        f"backend {keras.backend.backend()}, {channels} channels, n_fft={N_FFT}, hop={HOP}, "
        f"context {streamer.history}+{streamer.lookahead} frames, latency {streamer.latency} samples ({1000 * streamer.latency / RATE:.1f} ms)"
    )
    print("| backend | runner | block ms | mean ms | p99 ms | worst ms | RTF mean | RTF p99 |")
    for size in (RATE // 100, HOP):
        blocks = [signal[i : i + size] for i in range(0, len(signal) - size + 1, size)]
        fast.warm_up(size)
        runners = {"Streamer.process, eager": streamer.process, "Streamer.process, compiled": fast.process}
        if size % HOP == 0:
            step, state = streamer.step_model(size), streamer.initial_state(size)

            def run_step(block):
                nonlocal state
                out, *state = step.predict_on_batch([block[None], *state])

            runners["step model"] = run_step
        duration = size / RATE
        for name, run in runners.items():
            t = timed(run, blocks) * 1000
            p99 = np.percentile(t, 99)
            print(
                f"| {keras.backend.backend()} | {name} | {1000 * duration:g} | {t.mean():.2f} | {p99:.2f} | {t.max():.2f} "
                f"| {t.mean() / duration / 1000:.2f} | {p99 / duration / 1000:.2f} |"
            )
        streamer.reset()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds of audio streamed (default: 10)")
    main(parser.parse_args().seconds)

"""One training step with MultiResolutionSTFTLoss (Parallel WaveGAN's resolutions) on 8 stereo 1 s clips at 16 kHz.

    KERAS_BACKEND=jax python benchmarks/losses.py      # once per backend; under torch also auraloss

The model is one Conv1D (9 taps, 2 → 2 channels) on the waveform, Adam; the step is
Keras' `train_on_batch`, jitted (`jit_compile=True`: XLA on TensorFlow and JAX; torch runs
eagerly unless BENCH_TORCH_COMPILE=1, as torch.compile takes minutes to start on CPU).
Under torch the same step with `auraloss.freq.MultiResolutionSTFTLoss` on the same data.
Memory: the growth of the process' peak resident memory over the first step (compiling
included), a CPU stand-in for the loss' peak memory.
"""

import os
import resource

import keras
import numpy as np

import keras_spectro as ks

from common import header, median_seconds

BATCH, SAMPLES, CHANNELS = 8, 16000, 2
rng = np.random.default_rng(0)
target = rng.standard_normal((BATCH, SAMPLES, CHANNELS)).astype("float32") * 0.1
noisy = (target + 0.05 * rng.standard_normal(target.shape)).astype("float32")


def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(step):
    before = peak_mb()
    step()
    grown = peak_mb() - before
    return median_seconds(step, repeats=5, warmup=1), grown


def keras_step():
    jit = keras.backend.backend() != "torch" or os.environ.get("BENCH_TORCH_COMPILE") == "1"
    model = keras.Sequential([keras.Input((SAMPLES, CHANNELS)), keras.layers.Conv1D(CHANNELS, 9, padding="same")])
    model.compile(optimizer="adam", loss=ks.losses.MultiResolutionSTFTLoss(), jit_compile=jit)
    return (lambda: float(model.train_on_batch(noisy, target))), ("jitted" if jit else "eager")


def auraloss_step():
    import auraloss
    import torch

    conv = torch.nn.Conv1d(CHANNELS, CHANNELS, 9, padding=4)
    loss = auraloss.freq.MultiResolutionSTFTLoss()
    optimizer = torch.optim.Adam(conv.parameters())
    x, y = (torch.tensor(np.ascontiguousarray(w.transpose(0, 2, 1))) for w in (noisy, target))

    def step():
        optimizer.zero_grad()
        value = loss(conv(x), y)
        value.backward()
        optimizer.step()
        return float(value)

    return step


header(
    f"One training step, MultiResolutionSTFTLoss, {BATCH} stereo 1 s clips at 16 kHz",
    ("what", "median s per step", "peak memory growth, MB"),
)
step, how = keras_step()
seconds, grown = measure(step)
print(f"| keras_spectro, {keras.backend.backend()} ({how}) | {seconds:.4f} | {grown:.0f} |")
if keras.backend.backend() == "torch":
    seconds, grown = measure(auraloss_step())
    print(f"| auraloss 0.4.0, torch (eager) | {seconds:.4f} | {grown:.0f} |")

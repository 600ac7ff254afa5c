"""Eager speed (issue 12): the layers called eagerly vs the backend's fastest raw op and a float32 librosa loop.

8 stereo 5 s clips, n_fft 1024, hop 256; medians after warm-up, side by side in one process.
`python eager.py sweep` runs only the hop 1..n_fft/2 inverse sweep (n_fft 512, 2000 samples).
"""

import sys
import time

import keras
import librosa
import numpy as np

import keras_spectro as ks

from common import HOP, N_FFT, RATE, SECONDS, header, median_seconds, numpy_of, wav_files

backend = keras.backend.backend()


def timed(fn, repeats=5):
    """Median after one warm-up; a call slower than 3 s is timed once (the warm-up itself)."""
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    return first if first > 3 else median_seconds(fn, repeats=repeats, warmup=0)


def line(what, seconds, reference=None, label="speed-up over the reference"):
    ratio = f"{reference / seconds:.2f}x" if reference else ""
    print(f"| {what} | {seconds:.4f} | {ratio} |")


def raw_ops(signals, window):
    """The backend's STFT and inverse on `(8, 2, samples)`: the fastest of its plain and compiled forms."""
    samples = signals.shape[-1]
    if backend == "torch":
        import torch

        x, win = torch.as_tensor(signals).reshape(16, -1), torch.as_tensor(window)
        z = torch.stft(x, N_FFT, HOP, window=win, return_complex=True)
        forward = {"torch.stft": lambda: torch.stft(x, N_FFT, HOP, window=win, return_complex=True).numpy()}
        inverse = {"torch.istft": lambda: torch.istft(z, N_FFT, HOP, window=win, length=samples).numpy()}
    elif backend == "tensorflow":
        import tensorflow as tf

        x = tf.constant(np.pad(signals, ((0, 0), (0, 0), (N_FFT // 2, N_FFT // 2))))
        window_fn = lambda length, dtype: tf.constant(window)  # noqa: E731
        inverse_window = tf.signal.inverse_stft_window_fn(HOP, forward_window_fn=window_fn)
        f = lambda v: tf.signal.stft(v, N_FFT, HOP, window_fn=window_fn)  # noqa: E731
        i = lambda v: tf.signal.inverse_stft(v, N_FFT, HOP, window_fn=inverse_window)  # noqa: E731
        z = f(x)
        f_fn, i_fn, f_xla, i_xla = (
            tf.function(f),
            tf.function(i),
            tf.function(f, jit_compile=True),
            tf.function(i, jit_compile=True),
        )
        forward = {
            "tf.signal.stft": lambda: f(x).numpy(),
            "tf.signal.stft in tf.function": lambda: f_fn(x).numpy(),
            "tf.signal.stft, XLA": lambda: f_xla(x).numpy(),
        }
        inverse = {
            "tf.signal.inverse_stft": lambda: i(z).numpy(),
            "in tf.function": lambda: i_fn(z).numpy(),
            "XLA": lambda: i_xla(z).numpy(),
        }
    else:
        import jax
        import jax.numpy as jnp

        win = jnp.asarray(window)
        padded = samples + 2 * (N_FFT // 2)
        frames = 1 + (padded - N_FFT) // HOP
        index = np.arange(frames)[:, None] * HOP + np.arange(N_FFT)[None, :]
        sums = np.zeros(padded)
        np.add.at(sums, index, np.broadcast_to(window.astype("float64") ** 2, index.shape))
        scale = jnp.asarray(1 / sums[N_FFT // 2 : N_FFT // 2 + samples], dtype="float32")

        @jax.jit
        def f(v):
            v = jnp.pad(v, ((0, 0), (0, 0), (N_FFT // 2, N_FFT // 2)))
            return jnp.fft.rfft(v[..., index] * win, axis=-1)

        @jax.jit
        def i(z):
            segments = jnp.fft.irfft(z, N_FFT, axis=-1) * win
            out = jnp.zeros(z.shape[:-2] + (padded,), "float32").at[..., index].add(segments)
            return out[..., N_FFT // 2 : N_FFT // 2 + samples] * scale

        x = jnp.asarray(signals)
        z = f(x)
        forward = {"jnp.fft STFT, jitted": lambda: np.asarray(f(x))}
        inverse = {"jnp.fft inverse STFT, jitted": lambda: np.asarray(i(z))}
    return forward, inverse


def fastest(ops):
    times = {name: timed(op) for name, op in ops.items()}
    name = min(times, key=times.get)
    return name, times[name]


def layers_vs_raw():
    waves = np.stack([ks.audio.load_audio(f) for f in wav_files(8)])  # (8, samples, 2)
    signals = np.ascontiguousarray(np.moveaxis(waves, -1, 1))
    window = np.hanning(N_FFT + 1)[:-1].astype("float32")
    stft = ks.STFTSplit(n_fft=N_FFT, hop_length=HOP)
    inverse = stft.inverse()
    images = numpy_of(stft(waves))
    forward_ops, inverse_ops = raw_ops(signals, window)
    header("Eager layers vs the fastest raw op: 8 stereo 5 s clips", ("what", "median s", "raw op time / layer time"))
    for layer, data, ops in ((stft, waves, forward_ops), (inverse, images, inverse_ops)):
        name, reference = fastest(ops)
        line(f"raw: {name}", reference)
        line(f"{type(layer).__name__} (eager)", timed(lambda: numpy_of(layer(data))), reference)


def against_librosa():
    files = wav_files(32)
    pipeline = ks.SpectrogramPipeline(
        [ks.STFTSplit(n_fft=N_FFT, hop_length=HOP), ks.SpectrogramScaler(mean=0.0, variance=1.0, mode="standard")]
    )

    def librosa_images():
        images = []
        for f in files:
            wave, _ = librosa.load(f, sr=None, mono=False, dtype=np.float32)
            spectra = librosa.stft(wave, n_fft=N_FFT, hop_length=HOP)  # (2, bins, frames), complex64
            images.append(np.stack([part for s in spectra for part in (s.real, s.imag)], axis=-1))
        return np.stack(images)

    def ours_images():
        return numpy_of(pipeline(np.stack([ks.audio.load_audio(f) for f in files])))

    header("Eager vs a float32 per-file librosa loop", ("what", "median s", "librosa time / ours"))
    reference = timed(librosa_images, repeats=3)
    line("files → images: librosa.load + librosa.stft per file (32 files)", reference)
    line("files → images: load_audio + SpectrogramPipeline (eager)", timed(ours_images, repeats=3), reference)

    waves = np.stack([ks.audio.load_audio(f) for f in files[:8]])
    stft = ks.STFTSplit(n_fft=N_FFT, hop_length=HOP)
    inverse = stft.inverse()
    images = numpy_of(stft(waves))
    spectra = (images[..., 0::2] + 1j * images[..., 1::2]).astype("complex64")  # (8, bins, frames, 2)

    def librosa_audio():
        return np.stack(
            [
                librosa.istft(np.moveaxis(s, -1, 0), hop_length=HOP, n_fft=N_FFT, length=RATE * SECONDS).T
                for s in spectra
            ]
        )

    reference = timed(librosa_audio)
    line("images → audio: librosa.istft per file (8 files)", reference)
    line("images → audio: InverseSTFTSplit (eager)", timed(lambda: numpy_of(inverse(images))), reference)


def hop_sweep(n_fft=512, samples=2000):
    """The exact inverse, eager, for hops 1..n_fft/2 (compare across backends: same machine, back to back)."""
    header(f"Eager InverseSTFTSplit, n_fft {n_fft}, stereo {samples} samples, batch 1", ("hop", "median s", ""))
    waves = np.random.default_rng(0).standard_normal((1, samples, 2)).astype("float32")
    hop = 1
    while hop <= n_fft // 2:
        stft = ks.STFTSplit(n_fft=n_fft, hop_length=hop)
        inverse = stft.inverse()
        images = numpy_of(stft(waves))
        line(str(hop), timed(lambda: numpy_of(inverse(images)), repeats=3))
        hop *= 4 if hop < 64 else 2


if __name__ == "__main__":
    if sys.argv[1:] != ["sweep"]:
        layers_vs_raw()
        against_librosa()
    hop_sweep()

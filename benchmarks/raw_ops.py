"""3. STFTSplit / InverseSTFTSplit vs the raw backend ops on the same batch (8 stereo 5 s signals)."""

import keras
import numpy as np

import keras_spectro as ks

from common import HOP, N_FFT, compiled, header, median_seconds, numpy_of, row, wav_files

waves = np.stack([ks.audio.load_audio(f) for f in wav_files(8)])  # (8, samples, 2)
signals = np.ascontiguousarray(np.moveaxis(waves, -1, 1))  # (8, 2, samples), as the raw ops want
window = np.hanning(N_FFT + 1)[:-1].astype("float32")
stft = ks.STFTSplit(n_fft=N_FFT, hop_length=HOP)
inverse = stft.inverse()
images = numpy_of(stft(waves))
spectrum = keras.ops.stft(signals, N_FFT, HOP, N_FFT, window="hann")
backend = keras.backend.backend()

if backend == "torch":
    import torch

    x, win = torch.as_tensor(signals).reshape(16, -1), torch.as_tensor(window)
    z = torch.stft(x, N_FFT, HOP, window=win, return_complex=True)
    native_forward = lambda: torch.stft(x, N_FFT, HOP, window=win, return_complex=True).numpy()  # noqa: E731
    native_inverse = lambda: torch.istft(z, N_FFT, HOP, window=win, length=signals.shape[-1]).numpy()  # noqa: E731
    native = "torch.stft / torch.istft"
elif backend == "tensorflow":
    import tensorflow as tf

    x = tf.constant(np.pad(signals, ((0, 0), (0, 0), (N_FFT // 2, N_FFT // 2))))
    window_fn = lambda length, dtype: tf.constant(window)  # noqa: E731
    z = tf.signal.stft(x, N_FFT, HOP, window_fn=window_fn)
    native_forward = lambda: tf.signal.stft(x, N_FFT, HOP, window_fn=window_fn).numpy()  # noqa: E731
    inverse_window = tf.signal.inverse_stft_window_fn(HOP, forward_window_fn=window_fn)
    native_inverse = lambda: tf.signal.inverse_stft(z, N_FFT, HOP, window_fn=inverse_window).numpy()  # noqa: E731
    native = "tf.signal.stft / inverse_stft"
else:
    import jax

    x = jax.numpy.asarray(signals)
    forward_fn = jax.jit(lambda v: jax.scipy.signal.stft(v, nperseg=N_FFT, noverlap=N_FFT - HOP, window="hann")[-1])
    inverse_fn = jax.jit(lambda v: jax.scipy.signal.istft(v, nperseg=N_FFT, noverlap=N_FFT - HOP, window="hann")[-1])
    z = forward_fn(x)
    native_forward = lambda: forward_fn(x).block_until_ready()  # noqa: E731
    native_inverse = lambda: inverse_fn(z).block_until_ready()  # noqa: E731
    native = "jax.scipy.signal.stft / istft, jitted"

for title, layer, data, native_op, keras_op in (
    ("STFT forward", stft, waves, native_forward, lambda: numpy_of(keras.ops.stft(signals, N_FFT, HOP, N_FFT)[0])),
    ("STFT inverse", inverse, images, native_inverse, lambda: numpy_of(keras.ops.istft(spectrum, N_FFT, HOP, N_FFT))),
):
    header(f"{title}: 8 stereo 5 s signals")
    native_time, keras_time = median_seconds(native_op), median_seconds(keras_op)
    row(f"native: {native}", native_time)
    row("keras.ops (" + ("stft" if layer is stft else "istft") + ")", keras_time)
    fastest = min(native_time, keras_time)
    row(f"{type(layer).__name__} (eager)", median_seconds(lambda: numpy_of(layer(data))), fastest)
    for jit in (False, True):
        run = compiled(layer, data.shape[1:], jit_compile=jit)
        row(f"{type(layer).__name__} (Keras model, jit_compile={jit})", median_seconds(lambda: run(data)), fastest)

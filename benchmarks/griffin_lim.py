"""Griffin-Lim, 32 iterations, 8 stereo 5 s files: keras_spectro's GriffinLim vs librosa.griffinlim per channel."""

import librosa
import numpy as np

import keras_spectro as ks

from common import HOP, N_FFT, RATE, SECONDS, compiled, header, median_seconds, numpy_of, row, wav_files

N_ITER = 32
waves = np.stack([ks.audio.load_audio(f) for f in wav_files(8)])
stft = ks.STFTSplit(n_fft=N_FFT, hop_length=HOP, representation="magnitude")
magnitudes = numpy_of(stft(waves))
griffin_lim = ks.GriffinLim(n_fft=N_FFT, hop_length=HOP, n_iter=N_ITER, length=RATE * SECONDS)


def librosa_way():
    out = np.zeros(waves.shape, "float32")
    for b in range(magnitudes.shape[0]):
        for c in range(magnitudes.shape[-1]):
            out[b, :, c] = librosa.griffinlim(
                magnitudes[b, :, :, c], n_iter=N_ITER, hop_length=HOP, n_fft=N_FFT, init=None, length=RATE * SECONDS
            )
    return out


header(f"Griffin-Lim ({N_ITER} iterations): 8 stereo 5 s files")
librosa.griffinlim(magnitudes[0, :, :100, 0], n_iter=1, hop_length=HOP, n_fft=N_FFT)  # compiles librosa's numba parts
reference = median_seconds(librosa_way, repeats=3, warmup=0)
row("librosa.griffinlim per channel (float32)", reference)
row("keras_spectro GriffinLim (eager)", median_seconds(lambda: numpy_of(griffin_lim(magnitudes)), repeats=3), reference)
for jit in (False, True):
    run = compiled(griffin_lim, magnitudes.shape[1:], jit_compile=jit)
    row(
        f"keras_spectro GriffinLim (Keras model, jit_compile={jit})",
        median_seconds(lambda: run(magnitudes), repeats=3),
        reference,
    )

"""2. Images → audio for 8 files: keras_spectro's inverse vs per-channel librosa.istft."""

import librosa
import numpy as np

import keras_spectro as ks

from common import HOP, N_FFT, RATE, SECONDS, compiled, header, median_seconds, numpy_of, row, wav_files

waves = np.stack([ks.audio.load_audio(f) for f in wav_files(8)])
stft = ks.STFTSplit(n_fft=N_FFT, hop_length=HOP)
images = stft(waves)
inverse = stft.inverse()
images_np = numpy_of(images)


def librosa_way():
    out = np.zeros(waves.shape)
    for b in range(images_np.shape[0]):
        for c in range(images_np.shape[-1] // 2):
            spectrum = images_np[b, :, :, 2 * c] + 1j * images_np[b, :, :, 2 * c + 1]
            out[b, :, c] = librosa.istft(spectrum, hop_length=HOP, n_fft=N_FFT, length=RATE * SECONDS)
    return out


header("Images to audio: 8 stereo 5 s files")
reference = median_seconds(librosa_way, repeats=3)
row("librosa.istft per channel", reference)
row("keras_spectro InverseSTFTSplit (eager)", median_seconds(lambda: numpy_of(inverse(images))), reference)
for jit in (False, True):
    run = compiled(inverse, images.shape[1:], jit_compile=jit)
    row(
        f"keras_spectro InverseSTFTSplit (Keras model, jit_compile={jit})",
        median_seconds(lambda: run(images_np)),
        reference,
    )

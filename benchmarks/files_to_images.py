"""1. Files → images: keras_spectro (load + pipeline) vs a per-file librosa loop (float64, as the old library)."""

import librosa
import numpy as np

import keras_spectro as ks

from common import HOP, N_FFT, compiled, header, median_seconds, numpy_of, row, wav_files

files = wav_files(32)
pipeline = ks.SpectrogramPipeline(
    [ks.STFTSplit(n_fft=N_FFT, hop_length=HOP), ks.SpectrogramScaler(mean=0.0, variance=1.0, mode="standard")]
)


def keras_spectro_way():
    waves = np.stack([ks.audio.load_audio(f) for f in files])
    return numpy_of(pipeline(waves))


def librosa_way():
    images = []
    for f in files:
        wave, _ = librosa.load(f, sr=None, mono=False, dtype=np.float64)
        spectra = [librosa.stft(channel, n_fft=N_FFT, hop_length=HOP) for channel in wave]
        images.append(np.stack([part for s in spectra for part in (s.real, s.imag)], axis=-1))
    return np.stack(images)


header("Files to images: 32 stereo 5 s files")
reference = median_seconds(librosa_way, repeats=3)
row("librosa loop (float64)", reference)
row("keras_spectro load + pipeline (eager)", median_seconds(keras_spectro_way), reference)
waves = np.stack([ks.audio.load_audio(f) for f in files])
row("keras_spectro pipeline alone (eager)", median_seconds(lambda: numpy_of(pipeline(waves))), reference)
for jit in (False, True):
    run = compiled(pipeline, waves.shape[1:], jit_compile=jit)
    row(f"keras_spectro pipeline alone (Keras model, jit_compile={jit})", median_seconds(lambda: run(waves)), reference)

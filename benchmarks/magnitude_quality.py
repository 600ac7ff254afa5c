"""Quality of the magnitude-only inverses on real speech, side by side with librosa.

Griffin-Lim: spectral convergence ||S - |STFT(y)||| / ||S|| after 32 iterations, `GriffinLim`
vs `librosa.griffinlim` (same settings, init zeros). Mel: relative magnitude error
||S - S_est|| / ||S|| of `MelScale.inverse()` vs `librosa.feature.inverse.mel_to_stft`.
"""

import pathlib

import librosa
import numpy as np

import keras_spectro as ks

from common import header, numpy_of

DATA = pathlib.Path(__file__).resolve().parents[1] / "tests" / "data"
N_FFT, HOP, N_MELS = 1024, 256, 80
wave = ks.audio.load_audio(DATA / "voice_stereo_16bit_44k.wav")  # 4.2 s stereo speech
magnitudes = numpy_of(ks.STFTSplit(n_fft=N_FFT, hop_length=HOP, representation="magnitude")(wave[None]))


def convergence(s, y):
    return np.linalg.norm(s - np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP))) / np.linalg.norm(s)


header(
    "Magnitude-only quality on 4.2 s stereo speech (lower is better)", ("measure", "keras_spectro", "librosa", "ratio")
)
ours = numpy_of(ks.GriffinLim(n_fft=N_FFT, hop_length=HOP, n_iter=32, length=len(wave))(magnitudes))
mel = ks.MelScale(sample_rate=44100, n_fft=N_FFT, n_mels=N_MELS)
mels = numpy_of(mel(magnitudes))
back = numpy_of(mel.inverse()(mels))
for c in range(wave.shape[1]):
    s = magnitudes[0, :, :, c]
    theirs = librosa.griffinlim(s, n_iter=32, n_fft=N_FFT, hop_length=HOP, init=None, length=len(wave))
    a, b = convergence(s, ours[0, :, c]), convergence(s, theirs)
    print(f"| Griffin-Lim spectral convergence, channel {c} | {a:.4f} | {b:.4f} | {a / b:.3f} |")
for c in range(wave.shape[1]):
    s = magnitudes[0, :, :, c]
    theirs = librosa.feature.inverse.mel_to_stft(mels[0, :, :, c], sr=44100, n_fft=N_FFT, power=1)
    a, b = (np.linalg.norm(x - s) / np.linalg.norm(s) for x in (back[0, :, :, c], theirs))
    print(f"| mel ({N_MELS}) inverse relative error, channel {c} | {a:.4f} | {b:.4f} | {a / b:.3f} |")

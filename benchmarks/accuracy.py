"""5. Accuracy: round trip of the full pipeline, and STFTSplit against librosa, on the benchmark files."""

import librosa
import numpy as np

import keras_spectro as ks

from common import HOP, N_FFT, header, numpy_of, wav_files

waves = np.stack([ks.audio.load_audio(f) for f in wav_files(8)])
peak = np.abs(waves).max()
header(
    "Accuracy on 8 stereo 5 s files",
    (
        "representation",
        "round trip of the full pipeline: max error / peak",
        "STFTSplit vs librosa.stft: max difference / peak magnitude",
    ),
)
for representation in ("real_imag", "mag_phase"):
    pipeline = ks.SpectrogramPipeline(
        [
            ks.AudioPadding(waves.shape[1] + 1000, "center"),
            ks.STFTSplit(n_fft=N_FFT, hop_length=HOP, representation=representation),
            ks.SpectrogramScaler("standard", axis="channels"),
            ks.ChannelIndexer(ks.magnitude_phase_order(2)),
        ]
    )
    pipeline.adapt(waves, batch_size=4)
    back = numpy_of(pipeline.inverse()(pipeline(waves)))[:, 500:-500]
    round_trip = np.abs(back - waves).max() / peak
    images = numpy_of(ks.STFTSplit(n_fft=N_FFT, hop_length=HOP)(waves))
    worst = 0.0
    for b in range(len(waves)):
        for c in range(2):
            ref = librosa.stft(waves[b, :, c].astype("float64"), n_fft=N_FFT, hop_length=HOP)
            got = images[b, :, :, 2 * c] + 1j * images[b, :, :, 2 * c + 1]
            worst = max(worst, np.abs(got - ref).max() / np.abs(ref).max())
    print(f"| {representation} | {round_trip:.2e} | {worst:.2e} |")

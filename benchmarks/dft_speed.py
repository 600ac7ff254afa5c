"""7. dft="matmul" vs dft="fft": forward and inverse, 8 stereo 5 s clips, n_fft 256 to 2048."""

import numpy as np

import keras_spectro as ks

from common import compiled, header, median_seconds, numpy_of, wav_files

waves = np.stack([ks.audio.load_audio(f) for f in wav_files(8)])

header(
    "dft='matmul' vs dft='fft': 8 stereo 5 s clips, hop n_fft/4, Keras model, jit_compile=True",
    ("n_fft", "direction", "fft s", "matmul s", "matmul time / fft time"),
)
for n_fft in (256, 512, 1024, 2048):
    times = {}
    for dft in ("fft", "matmul"):
        stft = ks.STFTSplit(n_fft=n_fft, dft=dft)
        images = numpy_of(stft(waves))
        forward = compiled(stft, waves.shape[1:])
        inverse = compiled(stft.inverse(), images.shape[1:])
        times[dft] = (
            median_seconds(lambda: forward(waves), repeats=3),
            median_seconds(lambda: inverse(images), repeats=3),
        )
    for i, direction in enumerate(("forward", "inverse")):
        fft, matmul = times["fft"][i], times["matmul"][i]
        print(f"| {n_fft} | {direction} | {fft:.4f} | {matmul:.4f} | {matmul / fft:.2f} |")

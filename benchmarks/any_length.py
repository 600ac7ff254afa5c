"""6. A SpectrogramDomain model built for any length `(None, 2)` vs the same model built for a fixed length."""

import keras
import numpy as np

import keras_spectro as ks

from common import HOP, N_FFT, header, median_seconds, numpy_of, row, wav_files

waves = np.stack([ks.audio.load_audio(f) for f in wav_files(8)])


def domain_model(samples, jit_compile):
    pipeline = ks.SpectrogramPipeline(
        [ks.STFTSplit(n_fft=N_FFT, hop_length=HOP), ks.SpectrogramScaler("standard", axis="channels")]
    )
    domain = ks.SpectrogramDomain(pipeline)
    domain.adapt(waves)
    model = keras.Sequential([keras.Input((samples, 2)), domain])
    model.compile(jit_compile=jit_compile)
    return lambda x: numpy_of(model.predict_on_batch(x))


header(
    "SpectrogramDomain round trip (no network): 8 stereo 5 s files", ("what", "median s", "fixed-length time / this")
)
for jit in (False, True):
    fixed = median_seconds(lambda run=domain_model(waves.shape[1], jit): run(waves))
    row(f"built for {waves.shape[1]} samples, jit_compile={jit}", fixed)
    row(
        f"built for any length (None), jit_compile={jit}",
        median_seconds(lambda run=domain_model(None, jit): run(waves)),
        fixed,
    )
if keras.backend.backend() == "tensorflow":
    import tensorflow as tf

    domain = ks.SpectrogramDomain(
        ks.SpectrogramPipeline(
            [ks.STFTSplit(n_fft=N_FFT, hop_length=HOP), ks.SpectrogramScaler("standard", axis="channels")]
        )
    )
    domain.adapt(waves)
    for shape in ((8, waves.shape[1], 2), (None, None, 2)):
        graph = tf.function(domain, input_signature=[tf.TensorSpec(shape, tf.float32)])
        seconds = median_seconds(lambda graph=graph: graph(waves).numpy())
        if shape[1] is not None:
            fixed = seconds
        row(f"tf.function, input signature {shape}", seconds, fixed)

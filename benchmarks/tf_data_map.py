"""6. STFTSplit inside tf.data: sequential vs parallel map, against a Python loop over the same batches."""

import numpy as np
import tensorflow as tf

import keras_spectro as ks

from common import HOP, N_FFT, header, median_seconds, numpy_of, row, wav_files

waves = np.stack([ks.audio.load_audio(f) for f in wav_files(32)])
stft = ks.STFTSplit(n_fft=N_FFT, hop_length=HOP)
stft(waves[:4])


def python_loop():
    for i in range(0, len(waves), 4):
        numpy_of(stft(waves[i : i + 4]))


def tf_data(parallel):
    data = tf.data.Dataset.from_tensor_slices(waves).batch(4).map(stft, num_parallel_calls=parallel)
    return lambda: [batch.numpy() for batch in data]


header("STFTSplit over 32 stereo 5 s files in batches of 4")
reference = median_seconds(python_loop, repeats=3)
row("Python loop, eager layer", reference)
row("tf.data map, num_parallel_calls=1", median_seconds(tf_data(1), repeats=3), reference)
row("tf.data map, num_parallel_calls=AUTOTUNE", median_seconds(tf_data(tf.data.AUTOTUNE), repeats=3), reference)

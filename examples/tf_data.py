"""Training from a tf.data pipeline: files read in Python, spectrograms made inside `map`.

Works whatever KERAS_BACKEND is: the keras_spectro layers switch to TensorFlow
ops inside tf.data, as Keras' own preprocessing layers do.

    python examples/tf_data.py [-o OUT_DIR] [--quick]
"""

import argparse
import pathlib

import keras

import keras_spectro as ks
from keras_spectro.cli.demo import denoiser

from _pairs import RATE, mixtures  # examples/_pairs.py


def main(out_dir, epochs, batches):
    pairs = mixtures(pathlib.Path(out_dir), batches)  # noisy → clean, new mixtures every pass
    to_images = ks.SpectrogramPipeline(
        [ks.STFTSplit(n_fft=512, hop_length=128), ks.SpectrogramScaler("standard")], sample_rate=RATE
    )
    to_images.adapt(pairs)  # on the noisy mixtures
    data = ks.audio.to_tf_dataset(pairs, to_images).repeat()  # endless, so Keras counts the steps of an epoch
    _, bins, _, channels = to_images.compute_output_shape((None, None, 2))  # images of any frame count
    net = denoiser(bins, channels)
    net.compile(optimizer="adam", loss="mse")
    history = net.fit(
        data, epochs=epochs, steps_per_epoch=len(pairs), shuffle=False, verbose=2
    )  # drawn at random already
    print(
        f"tf.data training under {keras.backend.backend()}: loss {history.history['loss'][0]:.4f} -> {history.history['loss'][-1]:.4f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-o", "--output", default="tf_data_out")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    main(args.output, 2 if args.quick else 10, 1 if args.quick else 2)

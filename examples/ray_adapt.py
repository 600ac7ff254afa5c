"""Adapting on a Ray cluster: a folder of audio files → statistics → a model that trains on them.

Writes half-second noisy/clean segments of the test recordings to a folder (as a user's
data set would be), adapts a pipeline over the noisy files with Ray Data on a local cluster
(2 CPUs), checks the statistics against the one-process `pipeline.adapt`, then trains a
model holding the pipeline (a `SpectrogramDomain`) for an epoch and saves it.

    pip install "keras_spectro[ray]"
    python examples/ray_adapt.py [-o OUT_DIR] [--quick]
"""

import argparse
import logging
import pathlib
import time

import keras
import numpy as np
import ray

import keras_spectro as ks
from keras_spectro import distributed

DATA = pathlib.Path(__file__).resolve().parents[1] / "tests" / "data"
RATE, SEGMENT = 44100, 22050


def write_segments(out_dir, count=None):
    """Noisy and clean half-second segment files (the first `count`, or all), in two folders."""
    for kind, name in (("noisy", "voice_stereo_noisy_44k.wav"), ("clean", "voice_stereo_16bit_44k.wav")):
        wave = ks.audio.load_audio(DATA / name, sample_rate=RATE)
        (out_dir / kind).mkdir(parents=True, exist_ok=True)
        for i in range(min(len(wave) // SEGMENT, count or len(wave))):
            ks.utils.save_wav(
                out_dir / kind / f"{i:03d}.wav", wave[i * SEGMENT : (i + 1) * SEGMENT], RATE, subtype="FLOAT"
            )
    return sorted((out_dir / "noisy").glob("*.wav")), sorted((out_dir / "clean").glob("*.wav"))


def make_pipeline():
    return ks.SpectrogramPipeline(
        [ks.STFTSplit(n_fft=512, hop_length=128), ks.SpectrogramScaler("standard", axis="channels")], sample_rate=RATE
    )


def main(out_dir, quick=False):
    out_dir = pathlib.Path(out_dir)
    noisy, clean = write_segments(out_dir / "segments", 4 if quick else None)
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)

    # 1. statistics on the cluster: each worker reads files and returns partial statistics
    pipeline = make_pipeline()
    dataset = distributed.audio_dataset(noisy, sample_rate=RATE, channels=2)
    start = time.perf_counter()
    distributed.adapt(pipeline, dataset, batch_size=4)
    sharded_seconds = time.perf_counter() - start

    # the same statistics in one process, for comparison
    local = make_pipeline()
    start = time.perf_counter()
    local.adapt(ks.audio.AudioFileDataset(noisy, batch_size=4, sample_rate=RATE, channels=2))
    local_seconds = time.perf_counter() - start
    difference = max(
        float(np.abs(keras.ops.convert_to_numpy(a) - keras.ops.convert_to_numpy(b)).max())
        for a, b in zip(pipeline.weights, local.weights)
    )
    print(
        f"adapted over {len(noisy)} files: Ray {sharded_seconds:.1f} s, one process {local_seconds:.1f} s; largest difference {difference:.2g}"
    )

    # 2. a model holding the adapted pipeline trains on the files (noisy → clean)
    bins = 512 // 2 + 1
    network = keras.Sequential(
        [
            keras.Input((bins, None, 4)),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
            keras.layers.Conv2D(4, 3, padding="same"),
        ]
    )
    model = keras.Sequential([keras.Input((None, 2)), ks.SpectrogramDomain(pipeline, network)])
    model.compile(optimizer="adam", loss="mse")
    data = ks.audio.AudioFileDataset(
        noisy, targets=clean, batch_size=4, sample_rate=RATE, channels=2, shuffle=True, seed=0
    )
    history = model.fit(data, epochs=1, verbose=0)
    model.save(out_dir / "ray_adapt.keras")
    print(f"trained for an epoch: loss {history.history['loss'][-1]:.3g}; saved {out_dir / 'ray_adapt.keras'}")
    return difference, history.history["loss"][-1]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-o", "--output", default="ray_adapt_out")
    parser.add_argument("--quick", action="store_true", help="four segments (for tests)")
    args = parser.parse_args()
    main(args.output, args.quick)

"""What the examples share for training data: clean recordings and noise files, mixed on the fly by `MixtureDataset`."""

import pathlib

import numpy as np

import keras_spectro as ks

DATA = pathlib.Path(__file__).resolve().parents[1] / "tests" / "data"
RATE, SEGMENT = 44100, 22050


def write_noise(out_dir, files=2, seconds=5.0, rate=RATE, channels=2, seed=0):
    """White noise files (independent per channel), as a user's noise collection would be; their paths."""
    rng = np.random.default_rng(seed)
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"noise_{i:02d}.wav" for i in range(files)]
    for path in paths:
        ks.utils.save_wav(path, 0.1 * rng.standard_normal((int(seconds * rate), channels)), rate, subtype="FLOAT")
    return paths


def mixtures(out_dir, batches, batch_size=4, seed=0, **options):
    """Half-second segments of the clean test recording with white noise at 0 to 10 dB SNR, drawn afresh every epoch."""
    noise = write_noise(pathlib.Path(out_dir) / "noise")
    clean = [DATA / "voice_stereo_16bit_44k.wav"]
    return ks.audio.MixtureDataset(
        clean, noise, length=SEGMENT, batch_size=batch_size, batches=batches, snr_db=(0.0, 10.0), seed=seed, **options
    )

"""Quickstart: audio files → spectrogram images → audio, with pictures.

python examples/quickstart.py [FILE ...] [-o OUT_DIR] [--quick]
"""

import argparse
import pathlib

import keras
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import keras_spectro as ks  # noqa: E402

DATA = pathlib.Path(__file__).resolve().parents[1] / "tests" / "data"


def main(files, out_dir, seconds=3):
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # 1. files → a batch of equal-length stereo waveforms (mono files are repeated to 2 channels)
    waves = np.stack([ks.audio.load_audio(f, sample_rate=44100, channels=2, length=seconds * 44100) for f in files])
    # 2. waveforms → images: [real, imag] per channel, scaled to [-1, 1] by statistics learnt from the batch
    to_images = ks.SpectrogramPipeline(
        [ks.STFTSplit(n_fft=1024, hop_length=256), ks.SpectrogramScaler("minmax")], sample_rate=44100
    )
    to_images.adapt(waves)
    images = to_images(waves)
    # 3. images → audio, exactly
    back = keras.ops.convert_to_numpy(to_images.inverse()(images))
    print(
        f"waves {waves.shape} -> images {tuple(images.shape)} -> waves {back.shape}; max error {np.abs(back - waves).max():.2e}"
    )

    raw = ks.STFTSplit(n_fft=1024, hop_length=256)(waves)  # unscaled, for the picture in dB
    fig, axes = plt.subplots(2, len(files), figsize=(6 * len(files), 6), squeeze=False, constrained_layout=True)
    for i, name in enumerate(files):
        artist = ks.utils.plot_spectrogram(axes[0, i], raw[i], db_power=2, sample_rate=44100, hop_length=256)
        axes[0, i].set_title(pathlib.Path(name).name)
        fig.colorbar(artist, ax=axes[0, i], label="dB")
        ks.utils.plot_waveform(axes[1, i], back[i], sample_rate=44100)
    fig.savefig(out_dir / "quickstart.png", dpi=80)
    ks.utils.save_wav(out_dir / "roundtrip.wav", back[0], 44100)
    print(f"Wrote {out_dir / 'quickstart.png'} and {out_dir / 'roundtrip.wav'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "files", nargs="*", default=[DATA / "voice_stereo_16bit_44k.wav", DATA / "voice_stereo_noisy_44k.wav"]
    )
    parser.add_argument("-o", "--output", default="quickstart_out")
    parser.add_argument("--quick", action="store_true", help="one second of each file (for tests)")
    args = parser.parse_args()
    main(args.files, args.output, 1 if args.quick else 3)

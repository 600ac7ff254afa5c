"""The picture of docs/training.md: a few training pairs that `MixtureDataset` draws, as spectrograms.

Clean speech (the example sentences), white and pink noise files, SNRs drawn in -5 to 10 dB:
one row per drawn item, the clean segment, the scaled noise and the mixture on one colour scale.

    python docs/gallery/mixtures.py -o docs/gallery/mixtures.png
"""

import argparse
import pathlib
import tempfile

import keras
import numpy as np

import keras_spectro as ks

ROOT = pathlib.Path(__file__).resolve().parents[2]
RATE, N_FFT, HOP, ITEMS = 16000, 512, 128, 3


def noise_files(folder, seconds=10.0):
    """A white and a pink noise file (stereo, independent channels) in `folder`."""
    rng = np.random.default_rng(0)
    white = rng.standard_normal((int(seconds * RATE), 2))
    spectrum = np.fft.rfft(rng.standard_normal(white.shape), axis=0)
    spectrum /= np.sqrt(np.maximum(np.arange(len(spectrum)), 1))[:, None]  # 1/f power
    pink = np.fft.irfft(spectrum, n=len(white), axis=0)
    paths = []
    for name, wave in (("white", white), ("pink", pink)):
        paths.append(folder / f"{name}.wav")
        ks.utils.save_wav(paths[-1], 0.1 * wave / np.abs(wave).max(), RATE, subtype="FLOAT")
    return paths


def main(out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with tempfile.TemporaryDirectory() as folder:
        sentences = sorted((ROOT / "examples" / "data" / "utterances").glob("*.flac"))
        data = ks.audio.MixtureDataset(
            sentences,
            noise_files(pathlib.Path(folder)),
            length=2 * RATE,
            batch_size=ITEMS,
            batches=1,
            snr_db=(-5, 10),
            seed=0,
        )
        mixture, clean = data[0]
        draws = data.draws(0)
    stft = ks.STFTSplit(n_fft=N_FFT, hop_length=HOP, representation="mag_phase")
    rows = [(c, m - c, m) for c, m in zip(clean, mixture)]
    images = [[keras.ops.convert_to_numpy(stft(w[None])[0]) for w in row] for row in rows]
    top = 20 * np.log10(max(image[..., 0::2].max() for row in images for image in row))
    fig, axes = plt.subplots(ITEMS, 3, figsize=(12, 2.6 * ITEMS), sharex=True, sharey=True, constrained_layout=True)
    for ax_row, row, item in zip(axes, images, draws):
        (path, offset), (noise, noise_offset) = item["sources"][0], item["noise"]
        titles = (
            f"clean: {pathlib.Path(path).stem} from {offset / RATE:.2f} s",
            f"noise: {pathlib.Path(noise).stem} from {noise_offset / RATE:.2f} s, scaled",
            f"mixture at {item['snr_db']:.1f} dB SNR",
        )
        for ax, image, title in zip(ax_row, row, titles):
            artist = ks.utils.plot_spectrogram(
                ax,
                image,
                db_power=2,
                representation="mag_phase",
                sample_rate=RATE,
                hop_length=HOP,
                vmin=top - 80,
                vmax=top,
            )
            ax.set_title(title, fontsize=10)
    fig.colorbar(artist, ax=axes, label="dB")
    fig.savefig(out, dpi=72)
    plt.close(fig)
    print(f"Wrote {out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-o", "--output", default="mixtures.png")
    main(parser.parse_args().output)

"""What the examples share for pictures: spectrograms of several waveforms on one colour scale."""

import keras
import numpy as np

import keras_spectro as ks


def one_scale_spectrograms(path, waves, n_fft, hop, rate, width=15, dpi=80):
    """The spectrograms (mean of channels, dB) of `waves` {title: (samples, channels)}, one colour scale and bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stft = ks.STFTSplit(n_fft=n_fft, hop_length=hop, representation="mag_phase")
    images = {title: keras.ops.convert_to_numpy(stft(wave[None])[0]) for title, wave in waves.items()}
    top = 20 * np.log10(max(image[..., 0::2].max() for image in images.values()))  # the loudest magnitude, in dB
    fig, axes = plt.subplots(1, len(images), figsize=(width, 4), sharey=True, constrained_layout=True)
    for ax, (title, image) in zip(axes, images.items()):
        artist = ks.utils.plot_spectrogram(
            ax, image, db_power=2, representation="mag_phase", sample_rate=rate, hop_length=hop, vmin=top - 80, vmax=top
        )
        ax.set_title(title)
    fig.colorbar(artist, ax=axes, label="dB")
    fig.savefig(path, dpi=dpi)
    plt.close(fig)

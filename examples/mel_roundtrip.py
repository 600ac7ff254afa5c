"""Log-mel images and back: a recording → log-mel spectrogram images → audio with Griffin-Lim.

What vocoder and TTS models predict is a (log-)mel magnitude image; this
example makes such images from the test speech with one pipeline, rebuilds
audio from them with that pipeline's inverse (mel → magnitudes by
non-negative least squares, then Griffin-Lim for the phase), writes the WAV,
and a picture of the mel image and of the rebuilt spectrogram next to the
original's.

    python examples/mel_roundtrip.py [-o OUT_DIR] [--n-iter N] [--quick]
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
RATE, N_FFT, HOP, N_MELS = 44100, 2048, 512, 128


def as_mag_phase(magnitudes):
    """A magnitude image `(bins, frames, channels)` as a mag_phase image (zero phases), for plot_spectrogram."""
    return np.stack([magnitudes, np.zeros_like(magnitudes)], axis=-1).reshape(*magnitudes.shape[:2], -1)


def main(out_dir, seconds, n_iter):
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    wave = ks.audio.load_audio(DATA / "voice_stereo_16bit_44k.wav", sample_rate=RATE, length=int(seconds * RATE))

    stft = ks.STFTSplit(n_fft=N_FFT, hop_length=HOP, representation="magnitude", griffin_lim={"n_iter": n_iter})
    to_log_mel = ks.SpectrogramPipeline(
        [
            stft,  # |STFT|, one channel per audio channel
            ks.MelScale(sample_rate=RATE, n_fft=N_FFT, n_mels=N_MELS),  # 1025 bins → 128 mel bands
            ks.MagnitudeCompression("log", representation="magnitude"),  # log(m + 1e-5)
            ks.SpectrogramScaler("standard"),  # zero mean, unit variance
        ]
    )
    to_log_mel.adapt(wave[None])
    images = to_log_mel(wave[None])  # what a model would learn to predict: (1, 128, frames, 2)
    rebuilt = keras.ops.convert_to_numpy(to_log_mel.inverse()(images))[0]  # back to audio: (samples, 2)

    original, estimate = (keras.ops.convert_to_numpy(stft(x[None]))[0] for x in (wave, rebuilt))
    convergence = np.linalg.norm(estimate - original) / np.linalg.norm(original)
    print(
        f"{wave.shape} -> log-mel images {tuple(images.shape[1:])} -> {rebuilt.shape}; "
        f"spectral convergence {convergence:.3f} (||S - |STFT(y)||| / ||S||)"
    )
    ks.utils.save_wav(out_dir / "mel_roundtrip.wav", np.clip(rebuilt, -1, 1), RATE)

    fig, axes = plt.subplots(1, 3, figsize=(16, 4), constrained_layout=True)
    mel_image = keras.ops.convert_to_numpy(images)[0].mean(axis=-1)
    axes[0].imshow(mel_image, origin="lower", aspect="auto", cmap="magma", extent=(0, len(wave) / RATE, 0, N_MELS))
    axes[0].set(title="scaled log-mel image (channel mean)", xlabel="Time (s)", ylabel="Mel band")
    for ax, title, magnitudes in (
        (axes[1], "original", original),
        (axes[2], f"rebuilt (Griffin-Lim, {n_iter} iterations)", estimate),
    ):
        ks.utils.plot_spectrogram(
            ax,
            as_mag_phase(magnitudes),
            representation="mag_phase",
            db_power=2,
            sample_rate=RATE,
            hop_length=HOP,
            vmin=-80,
            vmax=20,
        )
        ax.set_title(title)
    fig.savefig(out_dir / "mel_roundtrip.png", dpi=80)
    print(f"Wrote {out_dir / 'mel_roundtrip.wav'} and {out_dir / 'mel_roundtrip.png'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-o", "--output", default="mel_roundtrip_out")
    parser.add_argument("--n-iter", type=int, default=64, help="Griffin-Lim iterations")
    parser.add_argument("--quick", action="store_true", help="one second and 8 iterations (for tests)")
    args = parser.parse_args()
    main(args.output, 1.0 if args.quick else 4.0, 8 if args.quick else args.n_iter)

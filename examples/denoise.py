"""Denoising speech: clean sentences + white noise → a mask network in spectrogram space → one audio-to-audio model.

    python examples/denoise.py

Data: 20 short sentences by three synthetic voices (`examples/data/utterances/`, stereo,
16 kHz). The last three sentences (one per voice) are held out; the model trains on
one-second segments of the other 17, with fresh white noise (independent per channel)
added to every segment, as loud as the speech (0 dB SNR over the training sentences), so
no noise is ever seen twice. The held-out sentences get the same noise level (another seed).

Model: `STFTSplit(representation="mag_phase")` turns audio into magnitude and phase
images; a small convolutional network predicts a mask (0 to 1) for each magnitude from
the log magnitudes (`MagnitudeCompression("log")`) and `ApplyMask` multiplies it in,
leaving the phase as it is; the pipeline backwards turns the images into audio again. The
whole audio-to-audio model, a `SpectrogramDomain`, trains end to end on the waveform
(gradients flow through the STFT layers) with `--loss`: `sisdr` (`ks.losses.SISDRLoss`,
the default: it measured best), `mrstft` (`MultiResolutionSTFTLoss`) or `mse`. It is
saved, loaded (with nothing but `import keras_spectro`), and used on the held-out
sentences, 8 s one after the other, longer than the training segments.

Writes noisy.wav, denoised.wav, clean.wav, denoise.png (the three spectrograms on one
colour scale) and speech_denoiser.keras to the output folder (-o, default denoise_out).
About one to two and a half minutes on two CPU cores (+9 to +10 dB SNR); `--quick` runs a few steps only (for tests).
"""

import argparse
import pathlib

import keras
import numpy as np

import keras_spectro as ks
from keras_spectro.demo import snr

from _plots import one_scale_spectrograms  # examples/_plots.py

DATA = pathlib.Path(__file__).resolve().parent / "data" / "utterances"
RATE, SEGMENT, SNR_DB = 16000, 16000, 0.0
N_FFT, HOP = 512, 256


def mask_network(bins, channels, width=16):
    """mag_phase images (batch, bins, frames, 2 * channels) → the same, magnitudes masked; any frame count."""
    images = keras.Input((bins, None, 2 * channels))
    log_magnitudes = ks.MagnitudeCompression("log", epsilon=1e-3, representation="mag_phase")(images)  # phases kept
    x = keras.layers.Conv2D(width, 3, padding="same", activation="relu")(log_magnitudes)
    for dilation in ((1, 2), (2, 4), (1, 8)):  # (bins, frames): about half a second of context
        x = keras.layers.Conv2D(width, 3, dilation_rate=dilation, padding="same", activation="relu")(x)
    mask = keras.layers.Conv2D(channels, 1, activation="sigmoid")(x)  # one mask per audio channel
    return keras.Model(images, ks.ApplyMask("magnitude", "mag_phase")([images, mask]), name="mask_network")


LOSSES = {
    "mse": lambda: "mse",
    "mrstft": lambda: ks.losses.MultiResolutionSTFTLoss(),
    "sisdr": lambda: ks.losses.SISDRLoss(),
}


def add_noise(rng, clean, noise_rms):
    return (clean + noise_rms * rng.standard_normal(clean.shape)).astype("float32")


class NoisySegments(keras.utils.PyDataset):
    """Random one-second segments of the training sentences, noisy → clean, with fresh noise every time."""

    def __init__(self, sentences, noise_rms, steps, batch_size=8, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.sentences, self.noise_rms, self.steps, self.batch_size = sentences, noise_rms, steps, batch_size
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        return self.steps

    def __getitem__(self, index):
        clean = []
        for i in self.rng.integers(len(self.sentences), size=self.batch_size):
            start = self.rng.integers(len(self.sentences[i]) - SEGMENT)
            clean.append(self.sentences[i][start : start + SEGMENT])
        clean = np.stack(clean)
        return add_noise(self.rng, clean, self.noise_rms), clean


def main(out_dir, epochs, steps, batch_size=8, loss="sisdr"):
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(0)
    files = sorted(DATA.glob("*.flac"))
    train_files, test_files = files[:-3], files[-3:]
    sentences = [ks.audio.load_audio(f, sample_rate=RATE) for f in train_files]
    speech_rms = np.sqrt(np.mean(np.concatenate(sentences) ** 2))
    noise_rms = speech_rms * 10 ** (-SNR_DB / 20)
    channels = sentences[0].shape[-1]

    to_images = ks.SpectrogramPipeline(
        [ks.STFTSplit(n_fft=N_FFT, hop_length=HOP, representation="mag_phase")], sample_rate=RATE
    )
    model = keras.Sequential(
        [keras.Input((None, channels)), ks.SpectrogramDomain(to_images, network=mask_network(N_FFT // 2 + 1, channels))]
    )
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss=LOSSES[loss](), metrics=[ks.metrics.SISDR()])
    print(
        f"Training on {len(train_files)} sentences ({sum(map(len, sentences)) / RATE:.0f} s) with white noise at {SNR_DB:g} dB SNR, loss {loss}:"
    )
    model.fit(NoisySegments(sentences, noise_rms, steps, batch_size), epochs=epochs, verbose=2)

    model.save(out_dir / "speech_denoiser.keras")
    model = keras.models.load_model(out_dir / "speech_denoiser.keras")

    clean = np.concatenate([ks.audio.load_audio(f, sample_rate=RATE) for f in test_files])
    noisy = add_noise(np.random.default_rng(1), clean, noise_rms)
    denoised = keras.ops.convert_to_numpy(model.predict(noisy[None], verbose=0))[0]
    print(
        f"Held-out: {len(test_files)} sentences, {len(clean) / RATE:.1f} s (trained on {SEGMENT / RATE:g} s segments)"
    )
    si_sdr = {
        name: float(ks.metrics.SISDR()(clean[None], wave[None]))
        for name, wave in (("noisy", noisy), ("denoised", denoised))
    }
    print(
        f"SNR noisy {snr(clean, noisy):.1f} dB -> denoised {snr(clean, denoised):.1f} dB; SI-SDR {si_sdr['noisy']:.1f} dB -> {si_sdr['denoised']:.1f} dB"
    )

    written = {name: out_dir / f"{name}.wav" for name in ("noisy", "denoised", "clean")}
    for name, wave in zip(written, (noisy, denoised, clean)):
        ks.utils.save_wav(written[name], wave, RATE)
    png = out_dir / "denoise.png"
    one_scale_spectrograms(png, {"noisy": noisy, "denoised": denoised, "clean": clean}, N_FFT, HOP, RATE)
    print(
        f"Wrote to {out_dir}/: {', '.join(p.name for p in written.values())} (listen and compare), {png.name}, speech_denoiser.keras"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "-o",
        "--output",
        default="denoise_out",
        help="folder for the WAVs, the PNG and the model (default: denoise_out)",
    )
    parser.add_argument("--epochs", type=int, default=5, help="training epochs (default: 5)")
    parser.add_argument(
        "--steps", type=int, default=10, help="batches of 8 one-second segments per epoch (default: 10)"
    )
    parser.add_argument(
        "--loss", choices=sorted(LOSSES), default="sisdr", help="training loss on the waveform (default: sisdr)"
    )
    parser.add_argument("--quick", action="store_true", help="one epoch of two batches of two segments (for tests)")
    args = parser.parse_args()
    if args.quick:
        main(args.output, epochs=1, steps=2, batch_size=2, loss=args.loss)
    else:
        main(args.output, args.epochs, args.steps, loss=args.loss)

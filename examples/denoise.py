"""Denoising speech: noisy/clean file pairs → dataset → network → one audio-to-audio model.

Cuts the start of the noisy and clean test recordings into paired half-second
segments, trains a network in spectrogram space, wraps the pipeline and the
network in `SpectrogramDomain`, saves that one audio-to-audio model, loads it,
and denoises the rest of the recording, held out and longer than a segment.

    python examples/denoise.py [-o OUT_DIR] [--epochs N] [--quick]
"""

import argparse
import pathlib

import keras
import numpy as np

import keras_spectro as ks
from keras_spectro.demo import denoiser, snr

DATA = pathlib.Path(__file__).resolve().parents[1] / "tests" / "data"
RATE, SEGMENT = 44100, 22050


def write_pairs(out_dir, segments):
    """Half-second noisy/clean segment files, as a user's data set would be."""
    noisy = ks.audio.load_audio(DATA / "voice_stereo_noisy_44k.wav", sample_rate=RATE)
    clean = ks.audio.load_audio(DATA / "voice_stereo_16bit_44k.wav", sample_rate=RATE)
    pairs = {"noisy": [], "clean": []}
    for i in range(min(segments, len(clean) // SEGMENT)):
        for kind, wave in (("noisy", noisy), ("clean", clean)):
            path = out_dir / "pairs" / kind / f"{i:03d}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            ks.utils.save_wav(path, wave[i * SEGMENT : (i + 1) * SEGMENT], RATE, subtype="FLOAT")
            pairs[kind].append(path)
    return pairs["noisy"], pairs["clean"]


def main(out_dir, epochs, segments):
    out_dir = pathlib.Path(out_dir)
    noisy, clean = write_pairs(out_dir, segments)  # the training data; the rest of the recording is held out

    to_images = ks.SpectrogramPipeline([ks.STFTSplit(n_fft=512, hop_length=128), ks.SpectrogramScaler("standard", axis="channels")])
    to_images.adapt(ks.audio.AudioFileDataset(noisy, batch_size=4))
    data = ks.audio.AudioFileDataset(noisy, targets=clean, batch_size=4, pipeline=to_images, shuffle=True, seed=0)
    images = data[0][0]  # (batch, bins, frames, channels)
    net = denoiser(images.shape[1], images.shape[-1])  # takes any frame count
    net.compile(optimizer=keras.optimizers.Adam(2e-3), loss="mse")
    net.fit(data, epochs=epochs, verbose=2)

    # waveforms of any length → the pipeline → the network → the pipeline backwards → waveforms of the same length
    model = keras.Sequential([keras.Input((None, 2)), ks.SpectrogramDomain(to_images, network=net)])
    model.save(out_dir / "speech_denoiser.keras")
    model = keras.models.load_model(out_dir / "speech_denoiser.keras")  # everything is inside the file

    held_out = slice(len(noisy) * SEGMENT, None)
    noisy_wave = ks.audio.load_audio(DATA / "voice_stereo_noisy_44k.wav", sample_rate=RATE)[held_out]
    clean_wave = ks.audio.load_audio(DATA / "voice_stereo_16bit_44k.wav", sample_rate=RATE)[held_out]
    denoised = keras.ops.convert_to_numpy(model.predict(noisy_wave[None], verbose=0))[0]
    assert denoised.shape == noisy_wave.shape
    ks.utils.save_wav(out_dir / "denoised.wav", denoised, RATE)
    print(f"Held-out {len(noisy_wave) / RATE:.2f} s ({len(noisy_wave)} samples; trained on {SEGMENT / RATE:g} s segments) -> {len(denoised)} samples")
    print(f"SNR noisy {snr(clean_wave, noisy_wave):.1f} dB -> denoised {snr(clean_wave, denoised):.1f} dB")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stft = ks.STFTSplit(n_fft=512, hop_length=128)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4), constrained_layout=True)
    for ax, (title, wave) in zip(axes, (("noisy", noisy_wave), ("denoised", denoised), ("clean", clean_wave))):
        ks.utils.plot_spectrogram(ax, stft(wave[None])[0], db_power=2, sample_rate=RATE, hop_length=128, vmin=-60, vmax=20)
        ax.set_title(title)
    fig.savefig(out_dir / "denoise.png", dpi=80)
    print(f"Wrote {out_dir / 'denoised.wav'}, {out_dir / 'denoise.png'} and {out_dir / 'speech_denoiser.keras'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-o", "--output", default="denoise_out")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="two epochs on three segments (for tests)")
    args = parser.parse_args()
    main(args.output, 2 if args.quick else args.epochs, 3 if args.quick else 6)

"""Long recordings: train on random segments, then denoise the whole recording chunk by chunk.

Loops the clean speech test recording (4.2 s, another gain on each repeat) into a
long file, and the same with white noise added into a long noisy file; trains a
small denoiser in spectrogram space on random one-second segments of the pair (a
fresh segment every epoch, only the segment read from disk); saves the
audio-to-audio model; and applies it to the whole noisy file with `process_file`:
memory holds one chunk, never the recording.

    python examples/long_recording.py [-o OUT_DIR] [--epochs N] [--quick]

The same from the command line, once the model is saved:

    keras-spectro apply OUT_DIR/denoiser.keras OUT_DIR/long_noisy.wav -o OUT_DIR/long_denoised.wav --chunk-seconds 10
    keras-spectro show OUT_DIR/long_denoised.wav --start 20 --duration 8

The SNR printed at the end is measured on the recording the training segments
came from: this example shows the workflow; examples/denoise.py evaluates on
held-out audio. (White noise is added here rather than using
voice_stereo_noisy_44k.wav, whose noise lies in the speech band, where even an
ideal mask gains little.)
"""

import argparse
import pathlib

import keras
import numpy as np
import soundfile

import keras_spectro as ks

DATA = pathlib.Path(__file__).resolve().parents[1] / "tests" / "data"
RATE, N_FFT, HOP = 44100, 512, 128


def write_long(out_dir, repeats, noise=0.05):
    """The clean recording looped `repeats` times, and the same plus white noise, written one repeat at a time."""
    rng = np.random.default_rng(0)
    speech = ks.audio.load_audio(DATA / "voice_stereo_16bit_44k.wav", sample_rate=RATE)
    noisy, clean = out_dir / "long_noisy.wav", out_dir / "long_clean.wav"
    with (
        soundfile.SoundFile(noisy, "w", RATE, 2, "PCM_16") as noisy_file,
        soundfile.SoundFile(clean, "w", RATE, 2, "PCM_16") as clean_file,
    ):
        for gain in rng.uniform(0.3, 0.8, repeats):
            clean_file.write(gain * speech)
            noisy_file.write(gain * speech + noise * rng.standard_normal(speech.shape))
    return noisy, clean


def mask_network(bins, channels):
    """Images (batch, bins, frames, channels) times a mask in (0, 1); takes any frame count."""
    images = keras.Input((bins, None, channels))
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(images)
    x = keras.layers.Conv2D(16, 3, dilation_rate=(1, 4), padding="same", activation="relu")(x)
    mask = keras.layers.Conv2D(channels, 3, padding="same", activation="sigmoid")(x)
    return keras.Model(images, keras.layers.Multiply()([images, mask]))


def snr(clean_path, other_path, block=RATE * 10):
    """The SNR of a file against the clean one, read a block at a time."""
    signal = error = 0.0
    for clean, other in zip(soundfile.blocks(clean_path, block), soundfile.blocks(other_path, block)):
        signal, error = signal + np.sum(clean**2), error + np.sum((clean - other) ** 2)
    return 10 * np.log10(signal / error)


def main(out_dir, epochs, repeats, segments, segment_seconds):
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(0)
    noisy, clean = write_long(out_dir, repeats)
    print(f"Wrote {noisy} and {clean}: {soundfile.info(noisy).duration:.1f} s each")

    # each listing of the file is one random segment per epoch: `segments` segments an epoch, new ones every epoch
    length = round(segment_seconds * RATE)
    options = dict(batch_size=4, length=length, mode="random", seed=0)
    to_images = ks.SpectrogramPipeline(
        [ks.STFTSplit(n_fft=N_FFT, hop_length=HOP), ks.SpectrogramScaler("standard", axis="channels")], sample_rate=RATE
    )
    to_images.adapt(ks.audio.AudioFileDataset([noisy] * segments, **options))
    data = ks.audio.AudioFileDataset([noisy] * segments, targets=[clean] * segments, pipeline=to_images, **options)
    net = mask_network(N_FFT // 2 + 1, 4)  # images: (batch, bins, frames, real and imaginary of 2 channels)
    net.compile(optimizer=keras.optimizers.Adam(3e-3), loss="mse")
    net.fit(data, epochs=epochs, verbose=2)
    print(f"Trained on {epochs} x {segments} random {segment_seconds:g} s segments")

    model = keras.Sequential([keras.Input((None, 2)), ks.SpectrogramDomain(to_images, network=net)])
    model.save(out_dir / "denoiser.keras")

    denoised = out_dir / "long_denoised.wav"
    ks.audio.process_file(out_dir / "denoiser.keras", noisy, denoised, chunk_seconds=10.0, overlap_seconds=1.0)
    print(f"Denoised the whole recording chunk by chunk into {denoised} ({soundfile.info(denoised).duration:.1f} s)")
    print(f"SNR over the whole recording: noisy {snr(clean, noisy):.1f} dB -> denoised {snr(clean, denoised):.1f} dB")
    print(f"The same from the command line: keras-spectro apply {out_dir / 'denoiser.keras'} {noisy} -o {denoised}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-o", "--output", default="long_recording_out")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument(
        "--quick", action="store_true", help="a 13 s recording, two epochs of four half-second segments (for tests)"
    )
    args = parser.parse_args()
    if args.quick:
        main(args.output, epochs=2, repeats=3, segments=4, segment_seconds=0.5)
    else:
        main(args.output, epochs=args.epochs, repeats=15, segments=16, segment_seconds=1.0)

"""The `keras-spectro` command: show, roundtrip, demo."""

import argparse
import os
import pathlib
import sys

import numpy as np


def show(args):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import keras_spectro as ks

    wave = ks.audio.load_audio(args.file)
    rate = _rate(args.file)
    image = ks.STFTSplit(n_fft=args.n_fft, hop_length=args.hop)(wave[None])[0]
    channels = wave.shape[1]
    fig, axes = plt.subplots(channels, 2, figsize=(12, 3 * channels), squeeze=False, constrained_layout=True)
    for k in range(channels):
        artist = ks.utils.plot_spectrogram(axes[k, 0], image, channel=k, db_power=2, sample_rate=rate, hop_length=args.hop)
        axes[k, 0].set_title(f"channel {k}: spectrogram (dB)")
        fig.colorbar(artist, ax=axes[k, 0])
        ks.utils.plot_waveform(axes[k, 1], wave, channel=k, sample_rate=rate)
        axes[k, 1].set_title(f"channel {k}: waveform")
    out = args.output or f"{pathlib.Path(args.file).stem}.png"
    fig.savefig(out, dpi=80)
    print(f"Wrote {out}")


def roundtrip(args):
    import keras

    import keras_spectro as ks

    wave = ks.audio.load_audio(args.file)
    stft = ks.STFTSplit(n_fft=args.n_fft, hop_length=args.hop, representation=args.representation)
    images = stft(wave[None])
    back = keras.ops.convert_to_numpy(stft.inverse()(images))[0]
    error = np.abs(back - wave).max()
    snr = 10 * np.log10(np.sum(wave**2) / max(np.sum((back - wave) ** 2), 1e-30))
    out = args.output or f"{pathlib.Path(args.file).stem}_roundtrip.wav"
    ks.utils.save_wav(out, back, _rate(args.file), subtype="FLOAT")
    print(f"{args.file}: {tuple(wave.shape)} -> images {tuple(images.shape)} -> {tuple(back.shape)}")
    print(f"max abs error {error:.3e} (peak {np.abs(wave).max():.3f}), SNR {snr:.1f} dB")
    print(f"Wrote {out}")


def demo(args):
    from keras_spectro import demo as story

    story.run(out_dir=args.output, epochs=args.epochs)


def _rate(path):
    import soundfile

    return soundfile.info(str(path)).samplerate


def _positive(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer; got {text!r}")
    return value


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit status 1, as every other error
        self.exit(1, f"keras-spectro: error: {message} (see {self.prog} --help)\n")


def parser():
    top = _Parser(prog="keras-spectro", description="Spectrogram images of audio files, and back.")
    commands = top.add_subparsers(dest="command", required=True)
    for name, helptext in (("show", "plot the spectrogram (dB) and waveform of each channel"), ("roundtrip", "encode and decode, report the error")):
        command = commands.add_parser(name, help=helptext)
        command.add_argument("file")
        command.add_argument("-o", "--output", help="output file (default: in the current directory, named after the input)")
        command.add_argument("--n-fft", type=_positive, default=2048, help="FFT size in samples (default: 2048)")
        command.add_argument("--hop", type=_positive, help="samples between frames (default: n_fft // 4)")
        if name == "roundtrip":
            command.add_argument("--representation", choices=["real_imag", "mag_phase"], default="real_imag")
    command = commands.add_parser("demo", help="synthesise audio, train a small denoiser, write WAVs and a PNG")
    command.add_argument("-o", "--output", default="spectro_demo", help="output folder (default: spectro_demo)")
    command.add_argument("--epochs", type=_positive, default=20, help="training epochs (default: 20)")
    return top


def main(argv=None):
    # TensorFlow reads this once, as it loads; unless the user chose a level, keep its log lines off our one-line errors
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    args = parser().parse_args(argv)
    if args.command != "demo" and args.hop is None:
        args.hop = args.n_fft // 4
    try:
        {"show": show, "roundtrip": roundtrip, "demo": demo}[args.command](args)
    except (ValueError, OSError, RuntimeError) as error:
        print("keras-spectro: error:", " ".join(str(error).splitlines()), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

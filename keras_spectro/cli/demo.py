"""The demo: synthesise noisy stereo audio, learn to denoise it in spectrogram space, and denoise a longer recording."""

import os

import keras
import numpy as np

from keras_spectro.audio import AudioFileDataset
from keras_spectro.layers import ApplyMask, SpectrogramDomain, SpectrogramPipeline, SpectrogramScaler, STFTSplit
from keras_spectro.utils import new_figure, plot_spectrogram, plot_waveform, save_wav

SAMPLE_RATE = 16000
SECONDS = 1.0
N_FFT, HOP = 256, 64


def synthesize(rng, count, noise=0.1, seconds=SECONDS):
    """`count` stereo clips of harmonic tones with vibrato, clean and with white noise added."""
    t = np.arange(int(SAMPLE_RATE * seconds)) / SAMPLE_RATE
    clean = np.zeros((count, len(t), 2))
    for clip in clean:
        for channel in range(2):
            f0 = rng.uniform(150, 400)
            vibrato = 1 + 0.02 * np.sin(2 * np.pi * rng.uniform(4, 7) * t)
            phase = 2 * np.pi * np.cumsum(f0 * vibrato) / SAMPLE_RATE
            clip[:, channel] = sum(np.sin(h * phase) / h for h in range(1, 6)) * 0.3
            clip[:, channel] *= np.clip(np.sin(np.pi * t / seconds) * 3, 0, 1)  # fade in and out
    noisy = clean + noise * rng.standard_normal(clean.shape)
    return clean.astype("float32"), noisy.astype("float32")


def denoiser(bins, channels):
    """A small network that predicts a magnitude mask (0 to 1) for the noisy image; it takes images of any frame count.

    Images are (batch, bins, frames, channels). Convolutions long along time see about a
    tenth of a second around each frame without resizing the image, so nothing in the
    network depends on the number of frames. (Not dilated ones: under TensorFlow's `predict`
    a dilated `Conv2D` beside an undilated branch returns the wrong frame count on a second
    input length, a Keras/TensorFlow bug.)
    """
    images = keras.Input((bins, None, channels))
    near = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(images)
    wide = near
    for _ in range(3):  # along frames: 3 + 3 * 8 = 27 frames, about 0.1 s
        wide = keras.layers.Conv2D(16, (1, 9), padding="same", activation="relu")(wide)
    # a dense layer across frequency bins tells the mask where in the spectrum it is
    across = keras.layers.Permute((2, 3, 1))(images)  # (frames, channels, bins)
    across = keras.layers.Dense(bins, activation="relu")(across)
    across = keras.layers.Permute((3, 1, 2))(across)  # back to (bins, frames, channels)
    merged = keras.layers.Concatenate()([near, wide, across])
    mask = keras.layers.Conv2D(channels // 2, 3, padding="same", activation="sigmoid")(merged)  # one per audio channel
    return keras.Model(images, ApplyMask("magnitude", "real_imag")([images, mask]), name="denoiser")


def snr(reference, estimate):
    return 10 * np.log10(np.sum(reference**2) / np.sum((reference - estimate) ** 2))


def run(out_dir="spectro_demo", epochs=12, clips=48, seed=0, say=print):
    """Runs the whole story and returns a dict of what it measured and wrote."""
    new_figure()  # matplotlib (the plot extra) is there, or an ImportError now, not after the training
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    os.makedirs(out_dir, exist_ok=True)
    clean, noisy = synthesize(rng, clips)
    files = {"clean": [], "noisy": []}
    for kind, waves in (("clean", clean), ("noisy", noisy)):
        os.makedirs(os.path.join(out_dir, "data", kind), exist_ok=True)
        for i, wave in enumerate(waves):
            files[kind].append(os.path.join(out_dir, "data", kind, f"{i:03d}.wav"))
            save_wav(files[kind][-1], wave, SAMPLE_RATE, subtype="FLOAT")
    say(
        f"Backend {keras.backend.backend()}: wrote {2 * clips} synthetic stereo clips of {SECONDS:g} s to {out_dir}/data"
    )

    to_images = SpectrogramPipeline(
        [STFTSplit(n_fft=N_FFT, hop_length=HOP), SpectrogramScaler("standard", axis="channels")],
        sample_rate=SAMPLE_RATE,  # saved with the model: `keras-spectro apply` refuses recordings at other rates
    )
    options = dict(sample_rate=SAMPLE_RATE, channels=2, batch_size=8)
    say("Adapting the pipeline's scaler on the noisy clips:")
    to_images.adapt(AudioFileDataset(files["noisy"], **options), verbose=1)

    train = AudioFileDataset(files["noisy"], targets=files["clean"], pipeline=to_images, shuffle=True, **options)
    bins, channels = train[0][0].shape[1], train[0][0].shape[-1]  # images: (batch, bins, frames, channels)
    net = denoiser(bins, channels)
    net.compile(optimizer=keras.optimizers.Adam(4e-3), loss="mse")
    say(f"Training the denoiser on {clips} image pairs:")
    net.fit(train, epochs=epochs)

    # audio of any length in, audio of the same length out: the pipeline, the network, the pipeline backwards
    model = keras.Sequential([keras.Input((None, 2)), SpectrogramDomain(to_images, network=net)], name="audio_denoiser")
    model_path = os.path.join(out_dir, "denoiser.keras")
    model.save(model_path)
    loaded = keras.models.load_model(model_path)
    say(f"Saved the audio-to-audio model (pipeline, network, inverse pipeline) to {model_path} and loaded it back.")

    # a held-out recording longer than the training clips: three new clips of other lengths, one after another
    clean_parts, noisy_parts = zip(*(synthesize(rng, 1, seconds=seconds) for seconds in (0.9, 1.3, 0.75)))
    test_clean, test_noisy = np.concatenate(clean_parts, axis=1)[0], np.concatenate(noisy_parts, axis=1)[0]
    denoised = keras.ops.convert_to_numpy(loaded.predict(test_noisy[None], verbose=0))[0]
    if denoised.shape != test_noisy.shape:
        raise RuntimeError(f"The model returned {denoised.shape} for a recording of shape {test_noisy.shape}.")
    identity = keras.ops.convert_to_numpy(SpectrogramDomain(loaded.layers[0].pipeline)(test_noisy[None]))[0]
    result = {
        "samples": len(test_noisy),
        "round_trip_error": float(np.abs(identity - test_noisy).max()),
        "snr_noisy_db": float(snr(test_clean, test_noisy)),
        "snr_denoised_db": float(snr(test_clean, denoised)),
        "noisy_wav": os.path.join(out_dir, "noisy.wav"),
        "denoised_wav": os.path.join(out_dir, "denoised.wav"),
        "clean_wav": os.path.join(out_dir, "clean.wav"),
        "png": os.path.join(out_dir, "comparison.png"),
        "model": model_path,
    }
    save_wav(result["noisy_wav"], test_noisy, SAMPLE_RATE)
    save_wav(result["denoised_wav"], denoised, SAMPLE_RATE)
    save_wav(result["clean_wav"], test_clean, SAMPLE_RATE)
    _compare(result["png"], test_noisy, denoised, test_clean)
    say(
        f"Denoised a held-out recording of {len(test_noisy) / SAMPLE_RATE:g} s ({len(test_noisy)} samples; trained on {SECONDS:g} s clips):"
        f" the output has {len(denoised)} samples, exactly the input's length."
    )
    say(f"Round trip through the loaded pipeline without the network: max error {result['round_trip_error']:.2e}")
    say(
        f"SNR on a held-out clip {len(test_noisy) / SAMPLE_RATE:g} s long: noisy {result['snr_noisy_db']:.1f} dB -> denoised {result['snr_denoised_db']:.1f} dB"
    )
    say("Wrote:")
    for path, what in (
        (
            os.path.join(out_dir, "data", ""),
            f"the training clips: {clips} clean and {clips} noisy stereo WAVs of {SECONDS:g} s, in clean/ and noisy/",
        ),
        (model_path, "the audio-to-audio model, to load with keras.models.load_model or run with keras-spectro apply"),
        (result["noisy_wav"], "the held-out recording with noise"),
        (result["denoised_wav"], "the same, denoised by the model"),
        (result["clean_wav"], "the same without noise: listen and compare"),
        (result["png"], "spectrograms and waveforms of the three"),
    ):
        say(f"  {path:<{len(out_dir) + 16}} {what}")
    return result


def _compare(path, noisy, denoised, clean):
    stft = STFTSplit(n_fft=N_FFT, hop_length=HOP)
    fig = new_figure(figsize=(14, 6), layout="constrained")
    axes = fig.subplots(2, 3)
    for column, (title, wave) in enumerate((("noisy", noisy), ("denoised", denoised), ("clean", clean))):
        image = stft(wave[None])[0]
        artist = plot_spectrogram(
            axes[0, column], image, db_power=2, sample_rate=SAMPLE_RATE, hop_length=HOP, vmin=-40, vmax=30
        )
        axes[0, column].set_title(f"{title}: dB, mean of channels")
        plot_waveform(axes[1, column], wave, sample_rate=SAMPLE_RATE)
    fig.colorbar(artist, ax=axes[0, :], label="dB")
    fig.savefig(path, dpi=80)

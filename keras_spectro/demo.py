"""The demo: synthesise noisy stereo audio, learn to denoise it in spectrogram space, and go back to audio."""

import os

import keras
import numpy as np

import keras_spectro as ks
from keras_spectro.audio import AudioFileDataset, load_audio
from keras_spectro.utils import plot_spectrogram, plot_waveform, save_wav

SAMPLE_RATE = 16000
SECONDS = 1.0
N_FFT, HOP = 256, 64


def synthesize(rng, count, noise=0.1):
    """`count` stereo clips of harmonic tones with vibrato, clean and with white noise added."""
    t = np.arange(int(SAMPLE_RATE * SECONDS)) / SAMPLE_RATE
    clean = np.zeros((count, len(t), 2))
    for clip in clean:
        for channel in range(2):
            f0 = rng.uniform(150, 400)
            vibrato = 1 + 0.02 * np.sin(2 * np.pi * rng.uniform(4, 7) * t)
            phase = 2 * np.pi * np.cumsum(f0 * vibrato) / SAMPLE_RATE
            clip[:, channel] = sum(np.sin(h * phase) / h for h in range(1, 6)) * 0.3
            clip[:, channel] *= np.clip(np.sin(np.pi * t / SECONDS) * 3, 0, 1)  # fade in and out
    noisy = clean + noise * rng.standard_normal(clean.shape)
    return clean.astype("float32"), noisy.astype("float32")


def denoiser(image_shape):
    """A small U-Net-like network that predicts a mask (0 to 1) for the noisy image."""
    images = keras.Input(image_shape)
    down = keras.layers.Conv2D(24, 3, padding="same", activation="relu")(images)
    deep = keras.layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(down)
    deep = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(deep)
    up = keras.layers.UpSampling2D(2)(deep)
    up = keras.layers.Cropping2D(((0, up.shape[1] - image_shape[0]), (0, up.shape[2] - image_shape[1])))(up)
    # a dense layer across frequency bins tells the mask where in the spectrum it is
    across = keras.layers.Permute((2, 3, 1))(images)  # (frames, channels, bins)
    across = keras.layers.Dense(image_shape[0], activation="relu")(across)
    across = keras.layers.Permute((3, 1, 2))(across)  # back to (bins, frames, channels)
    merged = keras.layers.Concatenate()([down, up, across])
    mask = keras.layers.Conv2D(image_shape[-1], 3, padding="same", activation="sigmoid")(merged)
    return keras.Model(images, keras.layers.Multiply()([images, mask]), name="denoiser")


def snr(reference, estimate):
    return 10 * np.log10(np.sum(reference**2) / np.sum((reference - estimate) ** 2))


def run(out_dir="spectro_demo", epochs=20, clips=48, seed=0, say=print):
    """Runs the whole story and returns a dict of what it measured and wrote."""
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    os.makedirs(out_dir, exist_ok=True)
    clean, noisy = synthesize(rng, clips + 1)
    files = {"clean": [], "noisy": []}
    for kind, waves in (("clean", clean), ("noisy", noisy)):
        os.makedirs(os.path.join(out_dir, "data", kind), exist_ok=True)
        for i, wave in enumerate(waves):
            files[kind].append(os.path.join(out_dir, "data", kind, f"{i:03d}.wav"))
            save_wav(files[kind][-1], wave, SAMPLE_RATE, subtype="FLOAT")
    say(f"Backend {keras.backend.backend()}: wrote {2 * len(clean)} synthetic stereo clips to {out_dir}/data")

    to_images = ks.SpectrogramPipeline(
        [ks.STFTSplit(n_fft=N_FFT, hop_length=HOP), ks.SpectrogramScaler("standard", axis="channels")]
    )
    to_audio = to_images.inverse()
    options = dict(sample_rate=SAMPLE_RATE, channels=2, batch_size=8)
    say("Adapting the pipeline's scaler on the noisy clips:")
    to_images.adapt(AudioFileDataset(files["noisy"][:clips], **options), verbose=1)

    train = AudioFileDataset(files["noisy"][:clips], targets=files["clean"][:clips], pipeline=to_images, shuffle=True, **options)
    net = denoiser(train[0][0].shape[1:])
    net.compile(optimizer=keras.optimizers.Adam(4e-3), loss="mse")
    say(f"Training the denoiser on {clips} image pairs:")
    net.fit(train, epochs=epochs)

    waves_in = keras.Input((clean.shape[1], 2))
    model = keras.Model(waves_in, to_audio(net(to_images(waves_in))), name="audio_denoiser")
    model_path = os.path.join(out_dir, "denoiser.keras")
    model.save(model_path)
    loaded = keras.models.load_model(model_path)
    say(f"Saved the audio-to-audio model (pipeline, network, inverse pipeline) to {model_path} and loaded it back.")

    test_noisy = load_audio(files["noisy"][-1], sample_rate=SAMPLE_RATE)
    test_clean = load_audio(files["clean"][-1], sample_rate=SAMPLE_RATE)
    denoised = keras.ops.convert_to_numpy(loaded.predict(test_noisy[None], verbose=0))[0]
    identity = keras.ops.convert_to_numpy(to_audio(to_images(test_noisy[None])))[0]
    result = {
        "round_trip_error": float(np.abs(identity - test_noisy).max()),
        "snr_noisy_db": float(snr(test_clean, test_noisy)),
        "snr_denoised_db": float(snr(test_clean, denoised)),
        "noisy_wav": os.path.join(out_dir, "noisy.wav"),
        "denoised_wav": os.path.join(out_dir, "denoised.wav"),
        "png": os.path.join(out_dir, "comparison.png"),
        "model": model_path,
    }
    save_wav(result["noisy_wav"], test_noisy, SAMPLE_RATE)
    save_wav(result["denoised_wav"], denoised, SAMPLE_RATE)
    _compare(result["png"], test_noisy, denoised, test_clean)
    say(f"Round trip through the pipeline without the network: max error {result['round_trip_error']:.2e}")
    say(f"SNR on a held-out clip: noisy {result['snr_noisy_db']:.1f} dB -> denoised {result['snr_denoised_db']:.1f} dB")
    say(f"Wrote {result['noisy_wav']}, {result['denoised_wav']} and {result['png']}")
    return result


def _compare(path, noisy, denoised, clean):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stft = ks.STFTSplit(n_fft=N_FFT, hop_length=HOP)
    fig, axes = plt.subplots(2, 3, figsize=(14, 6), constrained_layout=True)
    for column, (title, wave) in enumerate((("noisy", noisy), ("denoised", denoised), ("clean", clean))):
        image = stft(wave[None])[0]
        artist = plot_spectrogram(axes[0, column], image, db_power=2, sample_rate=SAMPLE_RATE, hop_length=HOP, vmin=-40, vmax=30)
        axes[0, column].set_title(f"{title}: dB, mean of channels")
        plot_waveform(axes[1, column], wave, sample_rate=SAMPLE_RATE)
    fig.colorbar(artist, ax=axes[0, :], label="dB")
    fig.savefig(path, dpi=80)
    plt.close(fig)

import itertools

import keras
import librosa
import numpy as np
import pytest

from keras_spectro import InverseSTFTSplit, SpectrogramScaler, STFTSplit

from conftest import BACKEND, assert_exact, to_numpy

SETTINGS = [
    dict(n_fft=512),
    dict(n_fft=512, hop_length=100, win_length=300, window="blackman"),
    dict(n_fft=256, hop_length=64, window="hamming", pad_mode="reflect"),
    dict(n_fft=256, hop_length=32, win_length=200, window=None),
    dict(n_fft=255, hop_length=60, win_length=201),
    dict(n_fft=256, center=False),
    dict(n_fft=400, hop_length=80, win_length=321, window="hamming", center=False),
]


def _librosa_arguments(settings):
    window = settings.get("window", "hann")
    return {**settings, "window": "boxcar" if window is None else window}


def _channels_last(x, data_format):
    return x if data_format == "channels_last" else np.moveaxis(x, 1, -1)


@pytest.mark.parametrize("settings", SETTINGS, ids=str)
@pytest.mark.parametrize("representation", ["real_imag", "mag_phase"])
def test_same_numbers_as_librosa(settings, representation, rng):
    waves = rng.standard_normal((2, 3001, 3)).astype("float32")
    images = to_numpy(STFTSplit(**settings, representation=representation, data_format="channels_last")(waves))
    for b, c in itertools.product(range(2), range(3)):
        ref = librosa.stft(waves[b, :, c].astype("float64"), **_librosa_arguments(settings))
        first, second = images[b, :, :, 2 * c], images[b, :, :, 2 * c + 1]
        assert first.shape == ref.shape
        peak = np.abs(ref).max()
        if representation == "real_imag":
            np.testing.assert_allclose(first, ref.real, atol=2e-6 * peak)
            np.testing.assert_allclose(second, ref.imag, atol=2e-6 * peak)
        else:
            np.testing.assert_allclose(first, np.abs(ref), atol=2e-6 * peak)
            significant = np.abs(ref) > 1e-3 * peak  # phase is defined where there is energy
            phase_error = np.angle(np.exp(1j * (second - np.angle(ref))))
            assert np.abs(phase_error[significant]).max() < 1e-3
            assert second.min() > -np.pi - 1e-6 and second.max() <= np.pi + 1e-6


@pytest.mark.parametrize("settings", SETTINGS, ids=str)
@pytest.mark.parametrize("representation", ["real_imag", "mag_phase"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("samples", [1000, 2049])
def test_inverse_is_exact(settings, representation, data_format, samples, rng):
    shape = (2, samples, 2) if data_format == "channels_last" else (2, 2, samples)
    waves = rng.uniform(-1, 1, shape).astype("float32")
    stft = STFTSplit(**settings, representation=representation, data_format=data_format)
    images = stft(waves)
    assert tuple(images.shape) == stft.compute_output_shape(shape)
    back = to_numpy(stft.inverse()(images))
    assert back.shape == waves.shape
    if stft.center:
        assert_exact(back, waves)
    else:  # exact between the first and the last frame centre, finite elsewhere
        first, last = stft.n_fft // 2, (stft.frames_for(samples) - 1) * stft.hop_length + stft.n_fft // 2
        assert np.all(np.isfinite(back))
        assert_exact(
            _channels_last(back, data_format)[:, first : last + 1],
            _channels_last(waves, data_format)[:, first : last + 1],
        )


@pytest.mark.parametrize("settings", SETTINGS, ids=str)
@pytest.mark.parametrize("representation", ["real_imag", "mag_phase"])
def test_matmul_dft_equals_the_fft(settings, representation, rng):
    waves = rng.uniform(-1, 1, (2, 2049, 2)).astype("float32")
    fft, matmul = (
        STFTSplit(**settings, representation=representation),
        STFTSplit(**settings, representation=representation, dft="matmul"),
    )
    images, images_matmul = to_numpy(fft(waves)), to_numpy(matmul(waves))
    if representation == "mag_phase":  # phases of near-zero bins are noise: compare the complex values
        images, images_matmul = (x[..., 0::2] * np.exp(1j * x[..., 1::2]) for x in (images, images_matmul))
    assert_exact(images_matmul, images)
    exact = slice(0, None) if settings.get("center", True) else slice(settings["n_fft"] // 2, -settings["n_fft"])
    assert_exact(to_numpy(matmul.inverse()(fft(waves)))[:, exact], waves[:, exact])
    config = matmul.inverse().get_config()
    assert config["dft"] == "matmul" and type(matmul.inverse()).from_config(config).get_config() == config


def test_layout_and_frame_count(rng):
    waves = rng.standard_normal((3, 4410, 2)).astype("float32")
    last = to_numpy(STFTSplit(n_fft=512, hop_length=128, data_format="channels_last")(waves))
    first = to_numpy(STFTSplit(n_fft=512, hop_length=128, data_format="channels_first")(np.moveaxis(waves, -1, 1)))
    assert last.shape == (3, 257, 1 + 4410 // 128, 4)
    assert first.shape == (3, 4, 257, 1 + 4410 // 128)
    np.testing.assert_allclose(np.moveaxis(first, 1, -1), last, atol=1e-6)
    # interleaved [real1, imag1, real2, imag2]: channel 2 of the image is audio channel 1's real part
    single = to_numpy(STFTSplit(n_fft=512, hop_length=128)(waves[:, :, 1:2]))
    np.testing.assert_allclose(last[..., 2:4], single, atol=1e-6)
    no_center = STFTSplit(n_fft=512, hop_length=128, center=False)
    assert no_center.compute_output_shape((3, 4410, 2)) == (3, 257, 1 + (4410 - 512) // 128, 4)


def test_real_recording_round_trip(voice):
    wave, _ = voice
    stft = STFTSplit(n_fft=2048, hop_length=512, representation="mag_phase")
    assert_exact(stft.inverse()(stft(wave[None])), wave[None])


def test_standalone_inverse_takes_length(rng):
    waves = rng.standard_normal((1, 5000, 1)).astype("float32")
    images = STFTSplit(n_fft=256)(waves)
    assert_exact(InverseSTFTSplit(n_fft=256, length=5000)(images), waves)
    # without a length it returns what the frames cover: (frames - 1) * hop samples
    assert InverseSTFTSplit(n_fft=256)(images).shape[1] == (images.shape[2] - 1) * 64


def test_a_fixed_length_that_does_not_fit_the_frames_is_refused(rng):
    images = STFTSplit(n_fft=256)(rng.standard_normal((1, 3 * 5000, 1)).astype("float32"))
    with pytest.raises(ValueError, match="images of 235 frames cannot become 5000 samples, which take 79 frames"):
        InverseSTFTSplit(n_fft=256, length=5000)(images)
    with pytest.raises(ValueError, match="length must be a positive integer"):
        InverseSTFTSplit(n_fft=256, length=0)
    assert InverseSTFTSplit(n_fft=256, length=None).length is None  # None still means the default


def test_inverse_follows_the_latest_input_length(rng):
    # built (and adapted) on short clips, then used on longer and shorter ones: never a stale length
    stft = STFTSplit(n_fft=256)
    inverse = stft.inverse()
    for samples in (5000, 15000, 3850, 5001):
        waves = rng.standard_normal((2, samples, 2)).astype("float32")
        assert_exact(inverse(stft(waves)), waves)
        assert_exact(stft.inverse()(stft(waves)), waves)


@pytest.mark.parametrize("representation", ["real_imag", "mag_phase"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_and_inf_are_never_hidden(representation, bad, rng):
    waves = rng.uniform(-1, 1, (2, 2000, 2)).astype("float32")
    waves[1, 1000, 0] = bad
    images = to_numpy(STFTSplit(n_fft=256, representation=representation)(waves))
    assert np.all(np.isfinite(images[0])) and np.all(np.isfinite(images[1, ..., 2:]))
    assert not np.all(np.isfinite(images[1, :, 1000 // 64, :2]))  # the frames that hold it show it
    with pytest.raises(ValueError, match="NaN or inf"):
        SpectrogramScaler().adapt(images)


def test_inverse_made_before_build_learns_the_length(rng):
    stft = STFTSplit(n_fft=256)
    inverse = stft.inverse()
    waves = rng.standard_normal((1, 3333, 2)).astype("float32")
    assert_exact(inverse(stft(waves)), waves)
    assert inverse.get_config()["length"] == 3333


@pytest.mark.parametrize(
    "kwargs, shape, message",
    [
        (dict(n_fft=256, hop_length=256), (1, 1000, 1), "hop_length=256 is too large"),
        (dict(n_fft=256, win_length=100, hop_length=120), (1, 1000, 1), "too large"),
        (dict(n_fft=256, center=False), (1, 200, 1), "larger than the signal"),
        (dict(n_fft=256, pad_mode="reflect"), (1, 100, 1), "reflect"),
        (dict(n_fft=256), (1000, 2), "expects waveforms of shape"),
        (dict(n_fft=256, win_length=300), None, "must not exceed"),
        (dict(n_fft=256, window="kaiser"), None, "window must be one of"),
        (dict(n_fft=256, window=[1.0, 2.0]), None, "win_length"),
        (dict(n_fft=4, window=[0.0, 0.0, 0.0, 0.0]), None, "only zeros"),
        (dict(n_fft=256, representation="polar"), None, "representation"),
        (dict(n_fft=256, pad_mode="edge"), None, "pad_mode"),
        (dict(n_fft=0), None, "n_fft must be a positive integer"),
        (dict(n_fft=-256), None, "n_fft must be a positive integer"),
        (dict(n_fft=True), None, "n_fft must be a positive integer"),
        (dict(n_fft=256, hop_length=0), None, "hop_length must be a positive integer"),
        (dict(n_fft=256, hop_length=-64), None, "hop_length must be a positive integer"),
        (dict(n_fft=256, hop_length=False), None, "hop_length must be a positive integer"),
        (dict(n_fft=256, win_length=0), None, "win_length must be a positive integer"),
        (dict(n_fft=256, hop_length=64.0), None, "hop_length must be a positive integer"),
    ],
)
def test_bad_settings_and_shapes_are_refused(kwargs, shape, message):
    with pytest.raises(ValueError, match=message):
        STFTSplit(**kwargs)(np.zeros(shape, "float32"))


def test_image_with_wrong_bins_is_refused():
    with pytest.raises(ValueError, match="257 frequency bins but n_fft=1024"):
        InverseSTFTSplit(n_fft=1024)(np.zeros((1, 257, 10, 2), "float32"))
    with pytest.raises(ValueError, match="even"):
        InverseSTFTSplit(n_fft=512)(np.zeros((1, 257, 10, 3), "float32"))


def test_explicit_window_array(rng):
    window = np.hanning(300)
    waves = rng.standard_normal((1, 2000, 1)).astype("float32")
    stft = STFTSplit(n_fft=512, hop_length=100, window=window)
    assert stft.win_length == 300
    ref = librosa.stft(waves[0, :, 0], n_fft=512, hop_length=100, win_length=300, window=window)
    np.testing.assert_allclose(to_numpy(stft(waves))[0, :, :, 0], ref.real, atol=2e-6 * np.abs(ref).max())
    assert_exact(stft.inverse()(stft(waves)), waves)


@pytest.mark.parametrize("representation", ["real_imag", "mag_phase"])
def test_gradients_flow_through_both_directions(representation, rng):
    waves = keras.ops.convert_to_tensor(rng.standard_normal((2, 1500, 2)).astype("float32"))
    stft = STFTSplit(n_fft=256, representation=representation)
    inverse = stft.inverse()
    weights = keras.ops.convert_to_tensor(rng.standard_normal((2, 1500, 2)).astype("float32"))

    def loss(x):
        return keras.ops.sum(inverse(stft(x) * 1.0) * weights)

    gradient = to_numpy(_gradient(loss, waves))
    # the round trip is the identity, so d(sum(x * w))/dx = w
    np.testing.assert_allclose(gradient, to_numpy(weights), atol=1e-4)


def test_mag_phase_gradient_is_finite_over_silence(rng):
    wave = rng.standard_normal((1, 3000, 1)).astype("float32")
    wave[:, 1000:2500] = 0.0  # silent frames: magnitude exactly 0
    stft = STFTSplit(n_fft=256, representation="mag_phase")
    assert to_numpy(stft(wave))[..., 0].min() == 0.0
    gradient = to_numpy(_gradient(lambda x: keras.ops.sum(stft(x) ** 2), keras.ops.convert_to_tensor(wave)))
    assert np.all(np.isfinite(gradient)) and np.abs(gradient).max() > 0


def _gradient(fn, x):
    if BACKEND == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(x)
            value = fn(x)
        return tape.gradient(value, x)
    if BACKEND == "jax":
        import jax

        return jax.grad(fn)(x)
    x = x.detach().requires_grad_(True)
    fn(x).backward()
    return x.grad


def test_runs_under_jit_compile(rng):
    waves = rng.standard_normal((4, 2000, 2)).astype("float32")
    inputs = keras.Input((2000, 2))
    stft = STFTSplit(n_fft=256, representation="mag_phase")
    model = keras.Model(inputs, stft.inverse()(stft(inputs)))
    model.compile(jit_compile=True)
    assert_exact(model.predict(waves, verbose=0), waves)


def test_half_precision_policy_computes_in_float32(rng):
    keras.config.set_dtype_policy("mixed_float16")
    waves = rng.uniform(-1, 1, (1, 2000, 1)).astype("float32")
    stft = STFTSplit(n_fft=256)
    images = stft(waves)
    assert keras.backend.standardize_dtype(images.dtype) == "float16"
    reference = to_numpy(STFTSplit(n_fft=256, dtype="float32")(waves))
    # float16 output of a float32 computation: one float16 rounding, not an accumulation of them
    np.testing.assert_allclose(
        to_numpy(images).astype("float32"), reference, rtol=1e-3, atol=1e-3 * np.abs(reference).max()
    )


def test_inside_tf_data_map(rng):
    tf = pytest.importorskip("tensorflow")
    waves = rng.standard_normal((6, 2000, 2)).astype("float32")
    stft = STFTSplit(n_fft=256)
    inverse = stft.inverse()
    dataset = tf.data.Dataset.from_tensor_slices(waves).batch(3).map(stft).map(inverse)
    back = np.concatenate([batch.numpy() for batch in dataset])
    assert_exact(back, waves)

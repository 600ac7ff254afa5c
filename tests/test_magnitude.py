"""Magnitude-only images: |STFT|, GriffinLim, MelScale, MagnitudeCompression, against librosa."""

import copy
import pickle

import keras
import librosa
import numpy as np
import pytest
from test_stft import _gradient

import keras_spectro as ks

from conftest import BACKEND, assert_exact, to_numpy

SETTINGS = [
    dict(n_fft=512),
    dict(n_fft=256, hop_length=100, win_length=200, window="hamming"),
    dict(n_fft=256, center=False),
]


@pytest.fixture(scope="module")
def speech():
    """Half a second of the stereo test speech, (samples, channels) float32."""
    import soundfile

    from conftest import DATA

    wave, rate = soundfile.read(DATA / "voice_stereo_16bit_44k.wav", dtype="float32", start=11025, frames=22050)
    return wave, rate


def _spectral_convergence(magnitudes, wave, n_fft, hop_length):
    rebuilt = np.abs(librosa.stft(wave, n_fft=n_fft, hop_length=hop_length))
    return np.linalg.norm(magnitudes - rebuilt) / np.linalg.norm(magnitudes)


def _model(layer, input_shape):
    inputs = keras.Input(input_shape)
    return keras.Model(inputs, layer(inputs))


# --- STFTSplit(representation="magnitude") -------------------------------------
@pytest.mark.parametrize("settings", SETTINGS, ids=str)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_magnitude_stft_equals_abs_librosa_stft(settings, data_format, rng):
    waves = rng.standard_normal((2, 3001, 3)).astype("float32")
    stft = ks.STFTSplit(**settings, representation="magnitude", data_format=data_format)
    images = to_numpy(stft(waves if data_format == "channels_last" else np.moveaxis(waves, -1, 1)))
    assert images.shape == stft.compute_output_shape(waves.shape if data_format == "channels_last" else (2, 3, 3001))
    images = images if data_format == "channels_last" else np.moveaxis(images, 1, -1)
    for b in range(2):
        for c in range(3):
            ref = np.abs(librosa.stft(waves[b, :, c].astype("float64"), **settings))
            np.testing.assert_allclose(images[b, :, :, c], ref, atol=2e-6 * ref.max())


def test_magnitude_stft_inverse_is_griffin_lim_with_the_same_settings(rng):
    stft = ks.STFTSplit(n_fft=256, hop_length=64, win_length=200, representation="magnitude", griffin_lim={"n_iter": 3})
    inverse = stft.inverse()
    assert isinstance(inverse, ks.GriffinLim)
    assert (inverse.n_fft, inverse.hop_length, inverse.win_length, inverse.n_iter) == (256, 64, 200, 3)
    for samples in (3000, 1234):  # follows the latest input's length
        waves = rng.standard_normal((2, samples, 2)).astype("float32")
        assert inverse(stft(waves)).shape == waves.shape
    assert inverse.get_config()["length"] == 3000  # as InverseSTFTSplit: the length stftsplit was built with
    assert isinstance(inverse.inverse(), ks.STFTSplit) and inverse.inverse().representation == "magnitude"
    with pytest.raises(ValueError, match="GriffinLim"):
        ks.InverseSTFTSplit(n_fft=256, representation="magnitude")
    with pytest.raises(ValueError, match="griffin_lim options need representation='magnitude'"):
        ks.STFTSplit(n_fft=256, griffin_lim={"n_iter": 3})


# --- GriffinLim ----------------------------------------------------------------
@pytest.mark.parametrize(
    "settings",
    [
        dict(n_fft=512, hop_length=128),
        dict(n_fft=256, hop_length=64, win_length=200, window="hamming"),
        dict(n_fft=256, hop_length=64, center=False),
    ],
    ids=str,
)
def test_griffin_lim_equals_librosa(settings, speech):
    wave, _ = speech
    wave = wave[:8000]
    magnitudes = to_numpy(ks.STFTSplit(**settings, representation="magnitude")(wave[None]))
    layer = ks.GriffinLim(**settings, n_iter=4, length=len(wave))
    out = to_numpy(layer(magnitudes))
    assert out.shape == (1, len(wave), 2)
    for c in range(2):
        ref = librosa.griffinlim(magnitudes[0, :, :, c], n_iter=4, init=None, length=len(wave), **settings)
        # measured: 1e-6 of the peak (TensorFlow, JAX), 4e-6 (torch)
        np.testing.assert_allclose(out[0, :, c], ref, atol=5e-5 * np.abs(ref).max())


def test_griffin_lim_quality_matches_librosa(speech):
    """Spectral convergence after 32 iterations at most 1.05x librosa's, on every channel."""
    wave, _ = speech
    n_fft, hop = 512, 128
    magnitudes = to_numpy(ks.STFTSplit(n_fft=n_fft, hop_length=hop, representation="magnitude")(wave[None]))
    out = to_numpy(ks.GriffinLim(n_fft=n_fft, hop_length=hop, length=len(wave))(magnitudes))
    for c in range(2):
        ref = librosa.griffinlim(
            magnitudes[0, :, :, c], n_iter=32, hop_length=hop, n_fft=n_fft, init=None, length=len(wave)
        )
        ours = _spectral_convergence(magnitudes[0, :, :, c], out[0, :, c], n_fft, hop)
        theirs = _spectral_convergence(magnitudes[0, :, :, c], ref, n_fft, hop)
        assert ours <= 1.05 * theirs, (ours, theirs)
        assert ours < 0.15  # measured: 0.075 and 0.090


def test_griffin_lim_channels_first_random_init_and_negative_magnitudes(speech, rng):
    wave, _ = speech
    magnitudes = to_numpy(ks.STFTSplit(n_fft=256, representation="magnitude")(wave[None, :4000]))
    last = to_numpy(ks.GriffinLim(n_fft=256, n_iter=3)(magnitudes))
    first = to_numpy(ks.GriffinLim(n_fft=256, n_iter=3, data_format="channels_first")(np.moveaxis(magnitudes, -1, 1)))
    np.testing.assert_allclose(np.moveaxis(first, 1, -1), last, atol=1e-6)
    assert last.shape == (1, (magnitudes.shape[2] - 1) * 64, 2)  # default length: all the frames cover
    # negative magnitudes (a network's output) count as zeros
    noisy = magnitudes - rng.uniform(0, 1, magnitudes.shape).astype("float32") * (magnitudes < 0.01)
    assert noisy.min() < 0
    np.testing.assert_allclose(
        to_numpy(ks.GriffinLim(n_fft=256, n_iter=3)(noisy)),
        to_numpy(ks.GriffinLim(n_fft=256, n_iter=3)(np.maximum(noisy, 0))),
        atol=1e-6,
    )
    # random phases: the same with the same seed, else different; converges as well as zeros
    random = [to_numpy(ks.GriffinLim(n_fft=256, n_iter=3, init="random", seed=s)(magnitudes)) for s in (1, 1, 2)]
    np.testing.assert_array_equal(random[0], random[1])
    assert np.abs(random[0] - random[2]).max() > 1e-3


def test_gradients_flow_through_every_layer(speech, rng):
    wave = speech[0][None, :3000].copy()
    wave[:, 1000:2000] = 0.0  # silent frames: magnitude exactly 0
    stft = ks.STFTSplit(n_fft=256, representation="magnitude")
    magnitudes = keras.ops.convert_to_tensor(to_numpy(stft(wave)))
    mel = ks.MelScale(sample_rate=16000, n_fft=256, n_mels=16, n_iter=4)
    cases = [
        (stft, wave),
        (ks.GriffinLim(n_fft=256, n_iter=3), magnitudes),
        (mel, magnitudes),
        (lambda x: mel.inverse()(mel(x)), magnitudes),
    ]
    for fn, x in cases:
        gradient = to_numpy(_gradient(lambda x: keras.ops.sum(fn(x) ** 2), keras.ops.convert_to_tensor(x)))
        assert np.all(np.isfinite(gradient)) and np.abs(gradient).max() > 0


def test_griffin_lim_with_matrix_products_gives_the_same_numbers(speech):
    magnitudes = to_numpy(ks.STFTSplit(n_fft=256, representation="magnitude", dft="matmul")(speech[0][None, :4000]))
    fft = ks.GriffinLim(n_fft=256, n_iter=4)(magnitudes)
    assert_exact(ks.GriffinLim(n_fft=256, n_iter=4, dft="matmul")(magnitudes), to_numpy(fft), tolerance=1e-4)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(n_iter=-1), "n_iter"),
        (dict(momentum=-0.5), "momentum"),
        (dict(init="ones"), "init"),
        (dict(seed=1.5), "seed"),
        (dict(length=0), "length"),
        (dict(hop_length=300), "too large"),
    ],
)
def test_griffin_lim_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ks.GriffinLim(n_fft=256, **kwargs)


def test_griffin_lim_bad_shapes():
    with pytest.raises(ValueError, match="129 frequency bins but n_fft=512"):
        ks.GriffinLim(n_fft=512)(np.zeros((1, 129, 10, 1), "float32"))
    with pytest.raises(ValueError, match="images of 10 frames cannot become 5000 samples"):
        ks.GriffinLim(n_fft=256, length=5000)(np.zeros((1, 129, 10, 1), "float32"))


# --- MelScale ------------------------------------------------------------------
@pytest.mark.parametrize(
    "settings",
    [
        dict(sr=22050, n_fft=2048),
        dict(sr=44100, n_fft=512, n_mels=64, fmin=50.0, fmax=8000.0),
        dict(sr=16000, n_fft=400, n_mels=80, htk=True),
        dict(sr=16000, n_fft=255, n_mels=40, norm=None),
        dict(sr=16000, n_fft=512, n_mels=40, norm=1),
        dict(sr=16000, n_fft=512, n_mels=40, norm=np.inf, htk=True),
    ],
    ids=str,
)
def test_mel_filters_equal_librosa(settings):
    ours = ks.MelScale(sample_rate=settings["sr"], **{k: v for k, v in settings.items() if k != "sr"}).filters
    ref = librosa.filters.mel(**settings)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-6 * ref.max())


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_mel_scale_forward_and_inverse_quality(speech, data_format):
    """The inverse's relative magnitude error is at most 1.2x librosa's mel_to_stft (NNLS)."""
    wave, rate = speech
    n_fft, n_mels = 1024, 64
    stft = ks.STFTSplit(n_fft=n_fft, hop_length=256, representation="magnitude", data_format=data_format)
    mel = ks.MelScale(sample_rate=rate, n_fft=n_fft, n_mels=n_mels, data_format=data_format)
    move = (lambda x: x) if data_format == "channels_last" else (lambda x: np.moveaxis(x, 1, -1))
    magnitudes = to_numpy(stft(wave[None] if data_format == "channels_last" else wave.T[None]))
    mels = to_numpy(mel(magnitudes))
    assert mels.shape == mel.compute_output_shape(magnitudes.shape)
    back = to_numpy(mel.inverse()(mels))
    assert back.shape == magnitudes.shape and back.min() >= 0
    magnitudes, mels, back = move(magnitudes), move(mels), move(back)
    for c in range(2):
        expected = librosa.feature.melspectrogram(
            S=magnitudes[0, :, :, c], sr=rate, n_fft=n_fft, n_mels=n_mels, power=1
        )
        np.testing.assert_allclose(mels[0, :, :, c], expected, atol=1e-5 * expected.max())
        ref = librosa.feature.inverse.mel_to_stft(mels[0, :, :, c], sr=rate, n_fft=n_fft, power=1)
        reference_error = np.linalg.norm(ref - magnitudes[0, :, :, c]) / np.linalg.norm(magnitudes[0, :, :, c])
        error = np.linalg.norm(back[0, :, :, c] - magnitudes[0, :, :, c]) / np.linalg.norm(magnitudes[0, :, :, c])
        assert error <= 1.2 * reference_error, (error, reference_error)


def test_mel_scale_bad_settings_and_shapes():
    with pytest.raises(ValueError, match="sample_rate"):
        ks.MelScale(sample_rate=0, n_fft=512)
    with pytest.raises(ValueError, match="fmin < fmax"):
        ks.MelScale(sample_rate=16000, n_fft=512, fmin=9000.0)
    with pytest.raises(ValueError, match="norm"):
        ks.MelScale(sample_rate=16000, n_fft=512, norm="l2")
    with pytest.raises(ValueError, match="257 rows on the frequency axis"):
        ks.MelScale(sample_rate=16000, n_fft=512, n_mels=40)(np.zeros((1, 129, 5, 1), "float32"))
    with pytest.warns(UserWarning, match="Empty mel filters"):
        ks.MelScale(sample_rate=16000, n_fft=128, n_mels=128)


# --- MagnitudeCompression ------------------------------------------------------
CASES = [
    (mode, representation)
    for mode in ("power", "log")
    for representation in ("real_imag", "mag_phase", "magnitude")
    if (mode, representation) != ("log", "real_imag")
]


def _images(rng, representation, data_format):
    stft = ks.STFTSplit(n_fft=128, representation=representation, data_format=data_format)
    waves = rng.standard_normal((2, 1500, 2)).astype("float32")
    waves[:, 500:1000] = 0.0  # exact silence: magnitudes exactly 0
    return stft(waves if data_format == "channels_last" else np.moveaxis(waves, -1, 1))


@pytest.mark.parametrize("mode, representation", CASES)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_compression_is_exactly_invertible(mode, representation, data_format, rng):
    images = _images(rng, representation, data_format)
    layer = ks.MagnitudeCompression(mode, exponent=0.3, representation=representation, data_format=data_format)
    compressed = to_numpy(layer(images))
    assert np.all(np.isfinite(compressed))
    assert_exact(layer.inverse()(compressed), to_numpy(images))


def test_compression_values(rng):
    images = to_numpy(_images(rng, "real_imag", "channels_last"))
    out = to_numpy(ks.MagnitudeCompression("power", exponent=0.5)(images))
    magnitude, new = np.hypot(images[..., 0::2], images[..., 1::2]), np.hypot(out[..., 0::2], out[..., 1::2])
    np.testing.assert_allclose(new, np.sqrt(magnitude), rtol=1e-5, atol=1e-6)
    phase_kept = magnitude > 1e-3
    np.testing.assert_allclose(
        np.arctan2(out[..., 1::2], out[..., 0::2])[phase_kept],
        np.arctan2(images[..., 1::2], images[..., 0::2])[phase_kept],
        atol=1e-4,
    )
    mag_phase = to_numpy(_images(rng, "mag_phase", "channels_last"))
    logged = to_numpy(ks.MagnitudeCompression("log", epsilon=1e-3, representation="mag_phase")(mag_phase))
    np.testing.assert_allclose(logged[..., 0::2], np.log(mag_phase[..., 0::2] + 1e-3), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(logged[..., 1::2], mag_phase[..., 1::2])
    signed = to_numpy(
        ks.MagnitudeCompression(exponent=0.5, representation="magnitude")(np.array([[[[-4.0, 0.0, 9.0]]]], "float32"))
    )
    np.testing.assert_allclose(signed, [[[[-2.0, 0.0, 3.0]]]])


@pytest.mark.parametrize("mode, representation", CASES)
def test_compression_gradients_are_finite_at_zero(mode, representation, rng):
    images = _images(rng, representation, "channels_last")
    layer = ks.MagnitudeCompression(mode, representation=representation)
    assert np.any(to_numpy(images) == 0)
    for fn in (layer, layer.inverse()):
        gradient = to_numpy(_gradient(lambda x: keras.ops.sum(fn(x) ** 2), keras.ops.convert_to_tensor(images)))
        assert np.all(np.isfinite(gradient)) and np.abs(gradient).max() > 0
    zeros = keras.ops.zeros_like(images)
    assert np.all(np.isfinite(to_numpy(_gradient(lambda x: keras.ops.sum(layer(x)), zeros))))


def test_compression_bad_settings():
    with pytest.raises(ValueError, match="mode='log' compresses magnitude channels only"):
        ks.MagnitudeCompression("log")
    with pytest.raises(ValueError, match="exponent"):
        ks.MagnitudeCompression(exponent=0)
    with pytest.raises(ValueError, match="epsilon"):
        ks.MagnitudeCompression("log", epsilon=0.0, representation="magnitude")
    with pytest.raises(ValueError, match="mode"):
        ks.MagnitudeCompression("cube")
    with pytest.raises(ValueError, match="even"):
        ks.MagnitudeCompression()(np.zeros((1, 5, 5, 3), "float32"))


# --- NaN and inf are never hidden ----------------------------------------------
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_and_inf_pass_through_every_layer(bad, rng):
    waves = rng.uniform(-1, 1, (2, 2000, 2)).astype("float32")
    waves[1, 1000, 0] = bad
    magnitudes = to_numpy(ks.STFTSplit(n_fft=256, representation="magnitude")(waves))
    assert np.all(np.isfinite(magnitudes[0])) and np.all(np.isfinite(magnitudes[1, ..., 1]))
    assert not np.all(np.isfinite(magnitudes[1, :, 1000 // 64, 0]))
    clean = np.abs(rng.standard_normal((2, 129, 20, 2))).astype("float32")
    clean[1, 5, 7, 0] = bad
    mel = ks.MelScale(sample_rate=16000, n_fft=256, n_mels=16)
    outputs = [
        mel(clean),
        mel.inverse()(np.where(np.isfinite(clean[:, :16]), clean[:, :16], bad)),
        ks.GriffinLim(n_fft=256, n_iter=2)(clean),
        ks.MagnitudeCompression("log", representation="magnitude")(clean),
        ks.MagnitudeCompression("power", representation="magnitude")(clean),
        ks.MagnitudeCompression("power", representation="real_imag")(clean),
        ks.MagnitudeCompression("power", representation="real_imag").inverse()(clean),
    ]
    for out in outputs:
        out = to_numpy(out)
        assert np.all(np.isfinite(out[0])), "the clean example stays finite"
        assert not np.all(np.isfinite(out[1])), "the bad value shows"


# --- in pipelines, models, files, tf.data, jit ---------------------------------
def _log_mel_pipeline(rate=16000, n_fft=256, n_iter=4, data_format="channels_last"):
    return ks.SpectrogramPipeline(
        [
            ks.STFTSplit(
                n_fft=n_fft, representation="magnitude", griffin_lim={"n_iter": n_iter}, data_format=data_format
            ),
            ks.MelScale(sample_rate=rate, n_fft=n_fft, n_mels=32, n_iter=8, data_format=data_format),
            ks.MagnitudeCompression("log", representation="magnitude", data_format=data_format),
            ks.SpectrogramScaler("standard", data_format=data_format),
        ]
    )


def test_log_mel_pipeline_goes_back_to_audio(speech):
    wave, rate = speech
    waves = np.stack([wave[:8000], wave[8000:16000]])
    pipeline = _log_mel_pipeline(rate, n_fft=512, n_iter=16)
    pipeline.adapt(waves)
    images = pipeline(waves)
    assert images.shape == (2, 32, 1 + 8000 // 128, 2)
    back = to_numpy(pipeline.inverse()(images))
    assert back.shape == waves.shape and np.all(np.isfinite(back))
    # an estimate: the magnitudes come back close, not the samples
    magnitudes = lambda x: np.abs(librosa.stft(x[0, :, 0], n_fft=512))
    assert np.linalg.norm(magnitudes(back) - magnitudes(waves)) / np.linalg.norm(magnitudes(waves)) < 0.5


def test_model_holding_the_pipeline_saves_and_loads(rng, tmp_path):
    pipeline = _log_mel_pipeline()
    pipeline.adapt(rng.uniform(-1, 1, (4, 3000, 2)).astype("float32"))
    inputs = keras.Input((3000, 2))
    images = pipeline(inputs)
    model = keras.Model(inputs, [images, pipeline.inverse()(images)])
    waves = rng.uniform(-1, 1, (2, 3000, 2)).astype("float32")
    expected = [to_numpy(x) for x in model(waves)]
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    for got, want in zip(loaded(waves), expected):
        np.testing.assert_allclose(to_numpy(got), want, atol=1e-5 * np.abs(want).max())
    assert expected[1].shape == waves.shape


def test_domain_copies_and_pickles_after_running(rng):
    domain = ks.SpectrogramDomain(_log_mel_pipeline())
    domain.adapt(rng.uniform(-1, 1, (4, 2000, 2)).astype("float32"))
    model = keras.Sequential([keras.Input((None, 2)), domain])
    waves = rng.uniform(-1, 1, (2, 1500, 2)).astype("float32")
    expected = to_numpy(model(waves))  # the Griffin-Lim inverse has run (and compiled, on JAX)
    for other in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        np.testing.assert_allclose(to_numpy(other(waves)), expected, atol=1e-5 * np.abs(expected).max())


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_spectrogram_domain_returns_any_length(data_format, rng):
    domain = ks.SpectrogramDomain(_log_mel_pipeline(data_format=data_format), data_format=data_format)
    move = (lambda x: x) if data_format == "channels_last" else (lambda x: np.ascontiguousarray(np.moveaxis(x, -1, 1)))
    domain.adapt(move(rng.uniform(-1, 1, (4, 2000, 2)).astype("float32")))
    model = keras.Sequential([keras.Input((None, 2) if data_format == "channels_last" else (2, None)), domain])
    for samples in (2000, 777, 4321, 1):
        waves = move(rng.uniform(-1, 1, (2, samples, 2)).astype("float32"))
        out = to_numpy(model.predict(waves, verbose=0))
        assert out.shape == waves.shape and np.all(np.isfinite(out))


def _close_in_magnitude(actual, expected, tolerance=1e-2):
    """Griffin-Lim on magnitudes that no signal has (a mel estimate) turns rounding differences into
    phase differences (measured: 1e-7 on the magnitudes gives 4e-4 of the peak), so outputs computed
    in another order are compared by their STFT magnitudes."""
    spectrum = lambda x: np.abs(librosa.stft(np.moveaxis(x, 1, -1), n_fft=256))
    assert actual.shape == expected.shape and np.all(np.isfinite(actual))
    assert np.linalg.norm(spectrum(actual) - spectrum(expected)) <= tolerance * np.linalg.norm(spectrum(expected))


@pytest.mark.skipif(BACKEND == "torch", reason="torch.compile is slow to start; torch runs eagerly")
def test_runs_under_jit_compile(speech, rng):
    wave, _ = speech
    magnitudes = to_numpy(ks.STFTSplit(n_fft=256, representation="magnitude")(wave[None, :6000]))
    griffin_lim = ks.GriffinLim(n_fft=256, n_iter=8, length=6000)
    assert_exact(
        _model(griffin_lim, magnitudes.shape[1:]).predict(magnitudes, verbose=0), to_numpy(griffin_lim(magnitudes))
    )
    domain = ks.SpectrogramDomain(_log_mel_pipeline())
    domain.adapt(rng.uniform(-1, 1, (4, 2000, 2)).astype("float32"))
    model = keras.Sequential([keras.Input((None, 2)), domain])
    model.compile(jit_compile=True)
    waves = rng.uniform(-1, 1, (2, 1500, 2)).astype("float32")
    _close_in_magnitude(model.predict(waves, verbose=0), to_numpy(domain(waves)))


def test_inside_tf_data_map(rng):
    tf = pytest.importorskip("tensorflow")
    waves = rng.uniform(-1, 1, (4, 2000, 2)).astype("float32")
    pipeline = _log_mel_pipeline()
    pipeline.adapt(waves)
    inverse = pipeline.inverse()
    expected = to_numpy(inverse(pipeline(waves)))
    dataset = tf.data.Dataset.from_tensor_slices(waves).batch(2).map(pipeline).map(inverse)
    _close_in_magnitude(np.concatenate([batch.numpy() for batch in dataset]), expected)
    domain = ks.SpectrogramDomain(pipeline)
    spec = tf.TensorSpec((None, None, 2), tf.float32)
    data = tf.data.Dataset.from_generator(lambda: iter([waves[:2, :1234]]), output_signature=spec).map(domain)
    assert [tuple(batch.shape) for batch in data] == [(2, 1234, 2)]


def test_a_batch_of_zero_gives_an_empty_batch():
    empty_waves = np.zeros((0, 1000, 2), "float32")
    magnitudes = ks.STFTSplit(n_fft=256, representation="magnitude")(empty_waves)
    assert tuple(magnitudes.shape) == (0, 129, 16, 2)
    assert tuple(ks.GriffinLim(n_fft=256, length=1000)(magnitudes).shape) == (0, 1000, 2)
    mel = ks.MelScale(sample_rate=16000, n_fft=256, n_mels=20)
    assert tuple(mel(magnitudes).shape) == (0, 20, 16, 2)
    assert tuple(mel.inverse()(mel(magnitudes)).shape) == (0, 129, 16, 2)
    assert tuple(ks.MagnitudeCompression("log", representation="magnitude")(magnitudes).shape) == (0, 129, 16, 2)
    assert tuple(ks.MagnitudeCompression()(np.zeros((0, 129, 16, 4), "float32")).shape) == (0, 129, 16, 4)


def test_half_precision_policy_computes_in_float32(rng):
    keras.config.set_dtype_policy("mixed_float16")
    waves = rng.uniform(-1, 1, (1, 2000, 1)).astype("float32")
    stft = ks.STFTSplit(n_fft=256, representation="magnitude", griffin_lim={"n_iter": 2})
    layers = [
        stft,
        ks.MelScale(sample_rate=16000, n_fft=256, n_mels=20),
        ks.MagnitudeCompression("log", representation="magnitude"),
    ]
    x = waves
    for layer in layers:
        x = layer(x)
        assert keras.backend.standardize_dtype(x.dtype) == "float16"
    for layer in reversed(layers):
        x = layer.inverse()(x)
        assert keras.backend.standardize_dtype(x.dtype) == "float16"
    assert x.shape == waves.shape


def test_the_mel_roundtrip_example_writes_audio_and_a_picture(tmp_path):
    import os
    import pathlib
    import subprocess
    import sys

    script = pathlib.Path(__file__).resolve().parents[1] / "examples" / "mel_roundtrip.py"
    run = subprocess.run(
        [sys.executable, str(script), "-o", str(tmp_path), "--quick"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert run.returncode == 0, run.stderr[-2000:]
    convergence = float(run.stdout.split("spectral convergence ")[1].split()[0])
    assert 0 < convergence < 0.5  # measured 0.17 with 64 iterations on 4 s, higher with --quick's 8 on 1 s
    assert (tmp_path / "mel_roundtrip.wav").stat().st_size > 44 and (tmp_path / "mel_roundtrip.png").stat().st_size > 0

"""SpectrogramDomain: any length in and out, one state through saving, copying and cloning."""

import copy
import pickle

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import keras_spectro as ks

from conftest import BACKEND, assert_exact, to_numpy


def _pipeline(representation="real_imag", data_format="channels_last", channels=2, **stft):
    stft = {"n_fft": 64, "hop_length": 16, **stft}
    return ks.SpectrogramPipeline(
        [
            ks.STFTSplit(representation=representation, data_format=data_format, **stft),
            ks.SpectrogramScaler("standard", axis="channels", data_format=data_format),
            ks.ChannelIndexer(ks.magnitude_phase_order(channels), data_format=data_format),
        ]
    )


def _identity_network(image_channels):
    """A trainable network that starts as the identity (images stay channels_last)."""
    return keras.layers.Dense(image_channels, kernel_initializer="identity", use_bias=False)


def _any_length_model(domain, channels=2, data_format="channels_last"):
    shape = (None, channels) if data_format == "channels_last" else (channels, None)
    return keras.Sequential([keras.Input(shape), domain])


def _waves(rng, batch, samples, channels=2, scale=1.0):
    return (rng.uniform(-1, 1, (batch, samples, channels)) * scale).astype("float32")


@st.composite
def domain_cases(draw):
    n_fft = draw(st.sampled_from([16, 32, 64]))
    options = dict(
        n_fft=n_fft,
        hop_length=draw(st.integers(1, n_fft // 2)),
        window=draw(st.sampled_from(["hann", "hamming", None])),
        representation=draw(st.sampled_from(["real_imag", "mag_phase"])),
        data_format=draw(st.sampled_from(["channels_last", "channels_first"])),
    )
    lengths = draw(st.lists(st.integers(1, 5 * n_fft), min_size=2, max_size=2))
    return options, lengths, draw(st.integers(1, 2)), draw(st.integers(0, 2**31))


# JAX compiles every op for every new shape, eagerly too: fewer random lengths there
@settings(max_examples=4 if BACKEND == "jax" else 12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(domain_cases())
def test_any_length_comes_back_whole_and_exact(case):
    options, lengths, channels, seed = case
    rng = np.random.default_rng(seed)
    data_format = options["data_format"]
    pipeline = _pipeline(channels=channels, **options)
    move = (lambda x: np.ascontiguousarray(np.moveaxis(x, -1, 1))) if data_format == "channels_first" else (lambda x: x)
    pipeline.adapt(move(_waves(rng, 3, 300, channels)))
    model = _any_length_model(ks.SpectrogramDomain(pipeline, data_format=data_format), channels, data_format)
    for samples in lengths:
        waves = move(_waves(rng, 2, samples, channels))
        out = to_numpy(model(waves))  # eager: jit compiles per length, tested below
        assert out.shape == waves.shape
        assert_exact(out, waves)


def test_trained_on_short_clips_used_on_longer_and_shorter_recordings(rng):
    domain = ks.SpectrogramDomain(_pipeline(), network=_identity_network(4))
    domain.adapt(_waves(rng, 4, 16000))  # "1 s" clips
    model = _any_length_model(domain)
    for samples in (48000, 12320, 1, 63):  # 3 s, 0.77 s, one sample, < n_fft
        waves = _waves(rng, 2, samples)
        assert_exact(model.predict(waves, verbose=0), waves)


@pytest.mark.skipif(BACKEND == "torch", reason="torch.compile is slow to start; torch runs eagerly")
def test_jit_compiled_model_takes_several_lengths(rng):
    domain = ks.SpectrogramDomain(_pipeline(), network=_identity_network(4))
    domain.adapt(_waves(rng, 4, 1000))
    model = _any_length_model(domain)
    model.compile(loss="mse", jit_compile=True)
    for samples in (1000, 2500, 999):
        waves = _waves(rng, 2, samples)
        assert_exact(model.predict(waves, verbose=0), waves)


def test_a_length_known_only_at_run_time_in_a_tensorflow_graph(rng):
    tf = pytest.importorskip("tensorflow")
    domain = ks.SpectrogramDomain(_pipeline(center=True, pad_mode="reflect"))
    domain.adapt(_waves(rng, 4, 1000))
    batches = [_waves(rng, 2, samples) for samples in (1000, 2345, 40)]
    spec = tf.TensorSpec((None, None, 2), tf.float32)
    data = tf.data.Dataset.from_generator(lambda: iter(batches), output_signature=spec).map(domain)
    for out, waves in zip(data, batches):
        assert_exact(out.numpy(), waves)
    if BACKEND == "tensorflow":  # the whole layer in one graph with an unknown batch and length
        graph = tf.function(domain, input_signature=[spec])
        for waves in batches:
            assert_exact(graph(waves), waves)


def test_audio_padding_inside_gives_the_input_length_back(rng):
    for mode in ("right", "left", "center"):
        domain = ks.SpectrogramDomain([ks.AudioPadding(700, mode), ks.STFTSplit(n_fft=64, hop_length=16)])
        model = _any_length_model(domain)
        for samples in (500, 700, 901):
            waves = _waves(rng, 2, samples)
            out = to_numpy(model(waves))
            assert out.shape == waves.shape
            cut = max(samples - 700, 0)
            kept = slice(cut, None) if mode == "left" else slice(0, samples - cut)
            assert_exact(out[:, kept], waves[:, kept])
            np.testing.assert_array_equal(np.delete(out, np.arange(samples)[kept], axis=1), 0)


def _readapted_is_exact(domain, rng):
    """Re-adapting the domain's pipeline on data of another scale keeps the round trip exact."""
    domain.pipeline.adapt(_waves(rng, 2, 1500, scale=7.0))
    waves = _waves(rng, 2, 1500, scale=7.0)
    assert_exact(domain(waves), waves)


def test_one_state_after_load_copy_pickle_and_clone(tmp_path, rng):
    domain = ks.SpectrogramDomain(_pipeline(representation="mag_phase"), network=_identity_network(4))
    domain.adapt(_waves(rng, 4, 1000))
    model = _any_length_model(domain)
    waves = _waves(rng, 2, 1500)
    expected = to_numpy(model(waves))
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert_exact(loaded(waves), expected)
    copies = {
        "load_model": loaded,
        "deepcopy": copy.deepcopy(model),
        "pickle": pickle.loads(pickle.dumps(model)),
    }
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())  # no "call adapt() first": the state is in the weights
    copies["clone_model + set_weights"] = clone
    rebuilt = _any_length_model(
        ks.SpectrogramDomain(_pipeline(representation="mag_phase"), network=_identity_network(4))
    )
    rebuilt.set_weights(model.get_weights())
    copies["rebuilt from code + set_weights"] = rebuilt
    weights = tmp_path / "m.weights.h5"
    model.save_weights(weights)
    reloaded = _any_length_model(
        ks.SpectrogramDomain(_pipeline(representation="mag_phase"), network=_identity_network(4))
    )
    reloaded.load_weights(weights)
    copies["load_weights"] = reloaded
    for other in copies.values():
        assert_exact(other(waves), expected)
        _readapted_is_exact(other.layers[0], rng)
    assert_exact(model(waves), expected)  # the original keeps its own statistics


def test_network_of_another_shape_is_refused():
    domain = ks.SpectrogramDomain([ks.STFTSplit(n_fft=64)], network=keras.layers.Dense(3))
    with pytest.raises(ValueError, match="network must return images of the shape it gets"):
        domain.build((None, 1000, 2))
    with pytest.raises(ValueError, match="SpectrogramPipeline or a list"):
        ks.SpectrogramDomain("stft")


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_fit(policy, rng):
    keras.config.set_dtype_policy(policy)
    domain = ks.SpectrogramDomain(_pipeline(), network=keras.layers.Dense(4, kernel_initializer="identity"))
    domain.adapt(_waves(rng, 4, 1000))
    scaler = domain.pipeline.layers[1]
    assert scaler.mean.dtype == "float32" and scaler.count.dtype == "float32"
    model = _any_length_model(domain)
    model.compile(optimizer="adam", loss="mse")
    waves = _waves(rng, 4, 1000)
    history = model.fit(waves, waves, epochs=2, batch_size=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    out = model.predict(waves[:2], verbose=0)
    assert out.dtype == keras.config.dtype_policy().compute_dtype and out.shape == (2, 1000, 2)
    assert np.abs(to_numpy(out).astype("float32") - waves[:2]).max() < 0.05  # half precision, near identity


def test_batch_of_zero_examples(rng):
    domain = ks.SpectrogramDomain(_pipeline())
    domain.adapt(_waves(rng, 2, 500))
    assert tuple(domain(np.zeros((0, 500, 2), "float32")).shape) == (0, 500, 2)
    stft = ks.STFTSplit(n_fft=64, hop_length=16, data_format="channels_first")
    images = stft(np.zeros((0, 2, 500), "float32"))
    assert tuple(images.shape) == (0, 4, 33, 32)
    assert tuple(stft.inverse()(images).shape) == (0, 2, 500)

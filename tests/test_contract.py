"""The layer contract: every public layer, on every path a user takes, gives the same numbers or the same clear error.

Parametrized over `keras_spectro.layers.__all__`: a new layer is picked up by these tests and
fails them until it has an entry in EXAMPLES (one line: how to make it, what it takes).
Paths: an eager call, `model(x)`, `predict` on two lengths in a row (TensorFlow retraces with a
`None` length), `evaluate`, `jit_compile=True`, `tf.data` `map`, save → load, `clone_model` +
`set_weights`, `copy.deepcopy`, pickle. Contract: config round trip, registered name, batch of 0,
NaN passes through, inverse exact where promised.
"""

import copy
import pickle

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_spectro as ks

from conftest import BACKEND, to_numpy

N_FFT, HOP = 64, 16
BINS = N_FFT // 2 + 1


def waves(samples, channels=2, batch=3):
    """The same numbers for the same shape: a layer made twice adapts to the same statistics."""
    return np.random.default_rng(samples).uniform(-0.5, 0.5, (batch, samples, channels)).astype("float32")


def images(frames, channels=4, batch=3, bins=BINS):
    return np.random.default_rng(frames).standard_normal((batch, bins, frames, channels)).astype("float32")


def adapted(layer, data):
    layer.adapt(data, batch_size=2)
    return layer


def stft_images(frames, representation="real_imag"):
    return to_numpy(ks.STFTSplit(n_fft=N_FFT, hop_length=HOP, representation=representation)(waves((frames - 1) * HOP)))


def domain():
    pipeline = ks.SpectrogramPipeline(
        [ks.STFTSplit(n_fft=N_FFT, hop_length=HOP), ks.SpectrogramScaler("standard", axis="channels")]
    )
    conv = keras.layers.Conv2D(4, 3, padding="same", kernel_initializer=keras.initializers.GlorotUniform(seed=1))
    network = keras.Sequential([keras.Input((BINS, None, 4)), conv])
    return adapted(ks.SpectrogramDomain(pipeline, network), waves(500))


# name: (make the layer, inputs for a length of the variable axis (samples or frames), its shape with None there, exact inverse)
EXAMPLES = {
    "AudioPadding": (lambda: ks.AudioPadding(300), waves, (None, 2), False),
    "ChannelIndexer": (lambda: ks.ChannelIndexer([2, 3, 0, 1]), images, (BINS, None, 4), True),
    "GriffinLim": (
        lambda: ks.GriffinLim(n_fft=N_FFT, hop_length=HOP, n_iter=2),
        lambda f: images(f, 2) ** 2,
        (BINS, None, 2),
        False,
    ),
    "Inverse": (lambda: adapted(ks.SpectrogramScaler(), images(6)).inverse(), images, (BINS, None, 4), True),
    "InverseSTFTSplit": (lambda: ks.InverseSTFTSplit(n_fft=N_FFT, hop_length=HOP), stft_images, (BINS, None, 4), True),
    "MagnitudeCompression": (lambda: ks.MagnitudeCompression("power"), images, (BINS, None, 4), True),
    "MagnitudePhaseScaling": (lambda: ks.MagnitudePhaseScaling(magnitude_scale=3.0), images, (BINS, None, 4), True),
    "MelScale": (
        lambda: ks.MelScale(16000, N_FFT, n_mels=8, n_iter=2),
        lambda f: np.abs(images(f, 2)),
        (BINS, None, 2),
        False,
    ),
    "STFTSplit": (
        lambda: ks.STFTSplit(n_fft=N_FFT, hop_length=HOP, representation="mag_phase"),
        waves,
        (None, 2),
        True,
    ),
    "SpectrogramDomain": (domain, waves, (None, 2), False),
    "SpectrogramPipeline": (
        lambda: adapted(
            ks.SpectrogramPipeline([ks.STFTSplit(n_fft=N_FFT, hop_length=HOP), ks.SpectrogramScaler("minmax")]),
            waves(400),
        ),
        waves,
        (None, 2),
        True,
    ),
    "SpectrogramScaler": (
        lambda: adapted(ks.SpectrogramScaler("standard", axis="channels"), images(6)),
        images,
        (BINS, None, 4),
        True,
    ),
    # a layer of two inputs: [images, masks] (2 sources x 2 audio channels of magnitude masks)
    "ApplyMask": (
        lambda: ks.ApplyMask("magnitude", "mag_phase", sources=2),
        lambda f: [images(f), np.abs(images(f + 1)[:, :, :f])],
        [(BINS, None, 4), (BINS, None, 4)],
        False,
    ),
}
ABSTRACT = {"InvertibleLayer"}
LAYERS = sorted(
    name
    for name in ks.layers.__all__
    if isinstance(getattr(ks.layers, name), type)
    and issubclass(getattr(ks.layers, name), keras.layers.Layer)
    and name not in ABSTRACT
)
# lengths of the variable axis: samples for waveform inputs, frames for images
LENGTHS = {(None, 2): (333, 417), (BINS, None, 4): (7, 9), (BINS, None, 2): (7, 9)}


def lengths(shape):
    return LENGTHS[tuple(shape[0]) if isinstance(shape, list) else shape]


def each(x, fn):
    """`fn` applied to the input, or to each of a layer's several inputs."""
    return [fn(part) for part in x] if isinstance(x, list) else fn(x)


def example(name):
    if name not in EXAMPLES:
        pytest.fail(
            f"{name} is in keras_spectro.layers.__all__ but has no entry in tests/test_contract.py EXAMPLES: add one."
        )
    make, inputs, shape, exact = EXAMPLES[name]
    first, second = lengths(shape)
    return make, inputs(first), inputs(second), shape, exact


def model_of(layer, shape, **compile_options):
    inputs = each(shape, keras.Input) if isinstance(shape, list) else keras.Input(shape)
    model = keras.Model(inputs, layer(inputs))
    model.compile(loss="mse", **compile_options)
    return model


def mapped(layer, x):
    """`layer` mapped over batches of 2 of `x` in tf.data, the batches' outputs concatenated."""
    if isinstance(x, list):
        batches = tf.data.Dataset.from_tensor_slices(tuple(x)).batch(2).map(lambda *parts: layer(list(parts)))
    else:
        batches = tf.data.Dataset.from_tensor_slices(x).batch(2).map(layer)
    return np.concatenate([to_numpy(batch) for batch in batches])


def close(actual, expected, name, path):
    actual = to_numpy(actual)
    assert actual.shape == expected.shape, f"{name}, {path}: shape {actual.shape} != {expected.shape}"
    scale = max(np.abs(expected[np.isfinite(expected)]).max(initial=0), 1e-3)
    np.testing.assert_allclose(actual, expected, atol=2e-5 * scale, rtol=1e-4, err_msg=f"{name}, {path}")


@pytest.mark.parametrize("name", LAYERS)
def test_every_path_gives_the_eager_numbers(name, tmp_path):
    make, x, x2, shape, _ = example(name)
    layer = make()
    expected, expected2 = to_numpy(layer(x)), to_numpy(layer(x2))
    model = model_of(layer, shape)
    close(model(x), expected, name, "model(x)")
    close(model.predict(x, verbose=0), expected, name, "predict")
    close(model.predict(x2, verbose=0), expected2, name, "predict, second length")
    assert model.evaluate(x, expected, verbose=0) == pytest.approx(0, abs=1e-8), f"{name}, evaluate"
    state = (model.trainable_variables, model.non_trainable_variables)
    close(model.stateless_call(*(list(v.value for v in s) for s in state), x)[0], expected, name, "stateless_call")
    if BACKEND != "torch":  # torch.compile takes minutes; jit_compile="auto" leaves it off there
        close(model_of(make(), shape, jit_compile=True).predict(x2, verbose=0), expected2, name, "jit_compile")
    if name != "SpectrogramDomain" or BACKEND == "tensorflow":  # a Keras network (Conv2D) runs in tf.data only there
        close(mapped(make(), x), expected, name, "tf.data map")
    model.save(tmp_path / "m.keras")
    close(keras.models.load_model(tmp_path / "m.keras").predict(x2, verbose=0), expected2, name, "save -> load")
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    if name == "Inverse":  # it holds its forward layer's state out of Keras' weights: a clone has none, and says so
        with pytest.raises(Exception, match="no statistics yet"):
            clone.predict(x, verbose=0)
    else:
        close(clone.predict(x, verbose=0), expected, name, "clone_model + set_weights")
    close(copy.deepcopy(layer)(x2), expected2, name, "deepcopy")
    close(pickle.loads(pickle.dumps(layer))(x), expected, name, "pickle")


@pytest.mark.parametrize("name", LAYERS)
def test_layer_contract(name):
    make, x, _, _, exact = example(name)
    layer = make()
    y = to_numpy(layer(x))
    assert keras.saving.get_registered_name(type(layer)).startswith("keras_spectro>")
    config = layer.get_config()
    assert type(layer).from_config(config).get_config() == config
    empty = to_numpy(layer(each(x, lambda part: part[:0])))
    assert empty.shape == (0,) + y.shape[1:], f"{name}: a batch of 0 gives {empty.shape}"
    bad = each(x, np.copy)
    (bad[0] if isinstance(bad, list) else bad)[0, 0, 0] = np.nan
    out = to_numpy(make()(bad))
    assert np.isnan(out[0]).any() and np.isfinite(out[1:]).all(), (
        f"{name}: NaN must come out where it went in, and only there"
    )
    if exact:
        back = to_numpy(layer.inverse()(y))
        np.testing.assert_allclose(back, x, atol=1e-5 * np.abs(x).max(), err_msg=f"{name}: inverse")


# --- the same error on every path ----------------------------------------------------
def unadapted_model():
    pipeline = [ks.STFTSplit(n_fft=N_FFT, hop_length=HOP), ks.SpectrogramScaler("standard")]
    return keras.Sequential([keras.Input((None, 2)), ks.SpectrogramDomain(pipeline)])


def adapted_model():
    model = unadapted_model()
    model.layers[0].adapt(waves(400))
    return model


def tf_data(model, x):
    return list(tf.data.Dataset.from_tensor_slices(x).batch(2).map(model.layers[0]))


UNADAPTED_PATHS = {
    "eager": lambda x: unadapted_model()(x),
    "predict": lambda x: unadapted_model().predict(x, verbose=0),
    "jit_compile": lambda x: (
        unadapted_model().predict(x, verbose=0) if BACKEND == "torch" else _jit(unadapted_model()).predict(x, verbose=0)
    ),
    "tf.data": lambda x: tf_data(unadapted_model(), x),
    "clone_model without set_weights": lambda x: keras.models.clone_model(adapted_model()).predict(x, verbose=0),
    "saved before adapt": lambda x: _reloaded(unadapted_model()).predict(x, verbose=0),
}


def _jit(model):
    model.compile(jit_compile=True)
    return model


def _reloaded(model):
    path = f"/tmp/keras_spectro_unadapted_{BACKEND}_{id(model)}.keras"
    model.save(path)
    return keras.models.load_model(path)


@pytest.mark.parametrize("path", sorted(UNADAPTED_PATHS))
def test_an_unadapted_scaler_is_refused_on_every_path(path):
    # each path gets fresh models: under JAX a model whose predict raised cannot predict again (Keras)
    with pytest.raises(Exception, match="no statistics yet"):
        UNADAPTED_PATHS[path](waves(300))


def _scaler_model():
    scaler = ks.SpectrogramScaler("standard")
    return keras.Sequential([keras.Input((BINS, 5, 4)), scaler]), scaler


def _state(model):
    """A copy of the model's non-trainable values (torch assigns in place)."""
    return [keras.ops.convert_to_tensor(to_numpy(v.value)) for v in model.non_trainable_variables]


def _stateless(model, state, x, jit=False):
    def call(state):
        return model.stateless_call([], state, x)[0]

    if jit and BACKEND == "jax":
        import jax

        return to_numpy(jax.jit(call)(state))
    return to_numpy(call(state))


@pytest.mark.parametrize("jit", [False, True] if BACKEND == "jax" else [False])
def test_stateless_calls_read_adapted_from_the_state_they_are_given(jit):
    x = images(5)
    model, scaler = _scaler_model()
    before = _state(model)
    scaler.adapt(x)
    expected = to_numpy(model(x))
    with pytest.raises(Exception, match="no statistics yet"):  # a state captured before adapt()
        _stateless(model, before, x, jit)
    fresh, _ = _scaler_model()  # an un-adapted model given an adapted state
    np.testing.assert_allclose(_stateless(fresh, _state(model), x, jit), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_stateless(model, _state(model), x, jit), expected, rtol=1e-5, atol=1e-6)


def short_model():
    return keras.Sequential([keras.Input((None, 1)), ks.SpectrogramDomain([ks.STFTSplit(n_fft=256, center=False)])])


def test_a_signal_too_short_to_frame_is_refused_also_at_a_run_time_length():
    long, short = np.ones((1, 1000, 1), "float32"), np.ones((1, 100, 1), "float32")
    with pytest.raises(ValueError, match="larger than the signal"):
        short_model()(short)
    model = short_model()
    model.predict(long, verbose=0)
    model.predict(np.ones((1, 1200, 1), "float32"), verbose=0)  # TensorFlow retraces with a None length
    with pytest.raises(Exception, match="larger than the signal|shorter than 256"):
        model.predict(short, verbose=0)
    lengths = tf.data.Dataset.from_generator(
        lambda: (np.ones((n, 1), "float32") for n in (1000, 100)), output_signature=tf.TensorSpec((None, 1))
    )
    mapped = lengths.batch(1).map(short_model().layers[0])  # a length known only at run time, on every backend
    with pytest.raises(Exception, match="shorter than 256"):
        list(mapped)


def frame_changing_model():
    network = keras.Sequential(
        [
            keras.Input((129, None, 2)),
            keras.layers.Conv2D(2, 3, strides=(1, 2), padding="same"),
            keras.layers.Conv2DTranspose(2, 3, strides=(1, 2), padding="same"),
        ]
    )
    return keras.Sequential(
        [keras.Input((None, 1)), ks.SpectrogramDomain([ks.STFTSplit(n_fft=256, hop_length=64)], network)]
    )


def test_a_network_that_changes_the_frame_count_is_refused_on_every_path():
    x = waves(64 * 46, channels=1, batch=1)  # 47 frames become 48
    with pytest.raises(ValueError, match="shape it gets"):
        frame_changing_model()(x)
    with pytest.raises(Exception, match="shape it gets"):
        frame_changing_model().predict(x, verbose=0)
    if BACKEND == "tensorflow":  # the network (Conv2D) runs in tf.data only there
        generated = tf.data.Dataset.from_generator(lambda: iter(x), output_signature=tf.TensorSpec((None, 1)))
        with pytest.raises(Exception, match="shape it gets"):
            list(generated.batch(1).map(frame_changing_model().layers[0]))


def test_adapt_learns_from_x_of_x_y_pairs_and_takes_backend_tensors():
    x = images(6)

    def variance(data):
        return to_numpy(adapted(ks.SpectrogramScaler("standard"), data).variance)

    expected = variance(x)
    for data in (
        (x, 10 * x),
        keras.ops.convert_to_tensor(x),
        (keras.ops.convert_to_tensor(x), 10 * x),
        tf.data.Dataset.from_tensor_slices((x, 10 * x)).batch(4),
    ):
        np.testing.assert_allclose(variance(data), expected, rtol=1e-6)


def test_given_statistics_that_no_data_has_are_refused():
    for options, message in [
        (dict(mode="standard", mean=0.0, variance=-4.0), "negative"),
        (dict(mode="standard", mean=np.nan, variance=1.0), "NaN"),
        (dict(mode="minmax", minimum=2.0, maximum=1.0), "exceeds"),
    ]:
        with pytest.raises(ValueError, match=message):
            ks.SpectrogramScaler(**options)


def test_near_constant_data_is_only_shifted():
    data = 1 + 1e-7 * np.random.default_rng(1).standard_normal((2, 8, 8, 2)).astype("float32")
    scaler = adapted(ks.SpectrogramScaler("standard"), data)
    scaled = to_numpy(scaler(data))
    assert np.abs(scaled).max() < 1e-5  # shifted to the target mean, not blown up by a gain of 1e7
    np.testing.assert_allclose(to_numpy(scaler.inverse()(scaled)), data, rtol=1e-6)


def test_griffin_lim_options_changed_after_a_call_take_effect():
    magnitudes = np.abs(images(9, 2))
    layer = ks.GriffinLim(n_fft=N_FFT, hop_length=HOP, n_iter=1)
    first = to_numpy(layer(magnitudes))
    layer.n_iter, layer.momentum = 4, 0.5
    expected = to_numpy(ks.GriffinLim(n_fft=N_FFT, hop_length=HOP, n_iter=4, momentum=0.5)(magnitudes))
    np.testing.assert_allclose(to_numpy(layer(magnitudes)), expected, atol=1e-6)
    assert np.abs(first - expected).max() > 1e-3


@pytest.mark.parametrize("dft", ["fft", "matmul"])
@pytest.mark.parametrize("n_fft", [64, 63])
def test_dc_and_nyquist_are_real_and_phases_lie_in_the_half_open_interval(dft, n_fft):
    x = waves(400)
    x[1] = -np.abs(x[1])  # a negative DC part: phase pi, never -pi
    real_imag = to_numpy(ks.STFTSplit(n_fft=n_fft, hop_length=16, dft=dft)(x))
    edges = [0, n_fft // 2] if n_fft % 2 == 0 else [0]
    assert np.all(real_imag[:, edges, :, 1::2] == 0)
    phases = to_numpy(ks.STFTSplit(n_fft=n_fft, hop_length=16, dft=dft, representation="mag_phase")(x))[..., 1::2]
    assert phases.min() > -np.pi and phases.max() <= np.float32(np.pi)
    other = to_numpy(
        ks.STFTSplit(n_fft=n_fft, hop_length=16, dft="matmul" if dft == "fft" else "fft", representation="mag_phase")(x)
    )[..., 1::2]
    assert np.all(np.isin(phases[:, edges], [0, np.float32(np.pi)]))
    np.testing.assert_array_equal(phases[:, edges], other[:, edges])


def test_distributed_is_an_attribute_without_importing_ray():
    import subprocess
    import sys

    code = "import sys, keras_spectro as ks; ks.distributed.adapt; assert 'ray' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0

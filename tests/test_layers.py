import keras
import numpy as np
import pytest

from keras_spectro import (
    AudioPadding,
    ChannelIndexer,
    Inverse,
    InvertibleLayer,
    MagnitudePhaseScaling,
    SpectrogramPipeline,
    SpectrogramScaler,
    STFTSplit,
    magnitude_phase_order,
)

from conftest import assert_exact, to_numpy


# --- AudioPadding ---------------------------------------------------------
@pytest.mark.parametrize(
    "mode, samples, expected",
    [
        ("right", 3, [1, 2, 3, 0, 0]),
        ("left", 3, [0, 0, 1, 2, 3]),
        ("center", 2, [0, 1, 2, 0, 0]),
        ("center", 3, [0, 1, 2, 3, 0]),
        ("right", 7, [1, 2, 3, 4, 5]),
        ("center", 7, [1, 2, 3, 4, 5]),
        ("left", 7, [3, 4, 5, 6, 7]),
    ],
)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_audio_padding_modes(mode, samples, expected, data_format):
    wave = np.arange(1, samples + 1, dtype="float32")
    waves = np.stack([wave, -wave])  # (2 channels, samples)
    inputs = waves.T[None] if data_format == "channels_last" else waves[None]
    out = to_numpy(AudioPadding(5, mode, data_format=data_format)(inputs))
    out = out[0].T if data_format == "channels_last" else out[0]
    np.testing.assert_array_equal(out, [expected, [-v for v in expected]])


def test_audio_padding_inverse_is_identity_and_shapes(rng):
    pad = AudioPadding(100)
    x = rng.standard_normal((2, 100, 3)).astype("float32")
    np.testing.assert_array_equal(to_numpy(pad.inverse()(x)), x)
    assert pad.compute_output_shape((None, 60, 3)) == (None, 100, 3)
    with pytest.raises(ValueError, match="mode"):
        AudioPadding(10, "middle")
    with pytest.raises(ValueError, match="length"):
        AudioPadding(0)
    with pytest.raises(ValueError, match="rank 3"):
        AudioPadding(10)(np.zeros((10, 2), "float32"))


@keras.saving.register_keras_serializable(package="tests")
class EdgePadding(AudioPadding):
    """Repeats the edge samples instead of zeros."""

    def pad(self, inputs, before, after):
        widths = [(0, 0)] * 3
        widths[self.samples_axis] = (before, after)
        return self.backend.numpy.pad(inputs, widths, mode="symmetric")


def test_custom_padding_by_one_method_and_it_saves(tmp_path):
    x = np.array([[[1.0], [2.0], [3.0]]], "float32")
    out = to_numpy(EdgePadding(5, "center")(x))[0, :, 0]
    np.testing.assert_array_equal(out, [1, 1, 2, 3, 3])
    model = keras.Sequential([keras.Input((3, 1)), EdgePadding(5, "center")])
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.layers[0], EdgePadding)
    np.testing.assert_array_equal(to_numpy(loaded(x)), to_numpy(model(x)))


# --- ChannelIndexer -------------------------------------------------------
def test_channel_indexer_matches_numpy_and_inverts(rng):
    order = [2, 0, 3, 1]
    x = rng.standard_normal((2, 5, 6, 4)).astype("float32")
    indexer = ChannelIndexer(order)
    np.testing.assert_array_equal(to_numpy(indexer(x)), x[..., order])
    inverse = indexer.inverse()
    assert isinstance(inverse, ChannelIndexer) and inverse.order == np.argsort(order).tolist()
    np.testing.assert_array_equal(to_numpy(inverse(indexer(x))), x)
    first = ChannelIndexer(order, data_format="channels_first")
    np.testing.assert_array_equal(to_numpy(first(np.moveaxis(x, -1, 1))), np.moveaxis(x[..., order], -1, 1))


def test_magnitude_phase_order():
    assert magnitude_phase_order(2) == [0, 2, 1, 3]
    assert magnitude_phase_order(3) == [0, 2, 4, 1, 3, 5]
    assert magnitude_phase_order(2, per_channel=3) == [0, 3, 1, 4, 2, 5]


@pytest.mark.parametrize("order", [[0, 0, 1], [1, 2], [[0, 1]], [0.0, 1.0], []])
def test_channel_indexer_refuses_non_permutations(order):
    with pytest.raises(ValueError, match="order must be"):
        ChannelIndexer(order)


def test_channel_indexer_refuses_wrong_channel_count():
    with pytest.raises(ValueError, match="order has 3 entries but the input has 4 channels"):
        ChannelIndexer([0, 2, 1])(np.zeros((1, 2, 2, 4), "float32"))


# --- SpectrogramScaler ----------------------------------------------------
def _reference(x, mode, keep):
    reduce = tuple(a for a in range(x.ndim) if a not in keep)
    x = x.astype("float64")
    if mode == "minmax":
        low, high = x.min(reduce, keepdims=True), x.max(reduce, keepdims=True)
        return (x - low) / (high - low) * (1.0 - -1.0) + -1.0
    return (x - x.mean(reduce, keepdims=True)) / x.std(reduce, keepdims=True) * 2.0 + 0.5


@pytest.mark.parametrize("mode", ["minmax", "standard"])
@pytest.mark.parametrize("axis, keep", [(None, ()), (-1, (3,)), ("channels", (3,)), ((1, 3), (1, 3))])
def test_scaler_follows_its_formula_and_inverts(mode, axis, keep, rng):
    x = (rng.standard_normal((10, 6, 5, 4)) * [1, 10, 100, 0.1] + [0, 5, -3, 1]).astype("float32")
    scaler = SpectrogramScaler(mode, axis=axis, target_mean=0.5, target_std=2.0)
    inverse = scaler.inverse()  # made before adapt: must see the statistics
    scaler.adapt(x, batch_size=3)
    y = to_numpy(scaler(x))
    np.testing.assert_allclose(y, _reference(x, mode, keep), atol=1e-5)
    assert_exact(inverse(y), x)


@pytest.mark.parametrize("mode", ["minmax", "standard"])
def test_adapt_is_the_same_whatever_the_batching(mode, rng):
    tf = pytest.importorskip("tensorflow")
    x = (rng.standard_normal((37, 9, 4, 2)) * 30 + 1000).astype("float32")
    results = []
    for data, batch_size in [
        (x, 37),
        (x, 1),
        (x, 5),
        (tf.data.Dataset.from_tensor_slices(x).batch(4), None),
        (_ArrayDataset(x, 6), None),
        ((x[i : i + 8] for i in range(0, 37, 8)), None),
        (tf.data.Dataset.from_tensor_slices((x, x)).batch(7), None),  # (x, y) pairs use x
    ]:
        scaler = SpectrogramScaler(mode, axis=-1)
        scaler.adapt(data, batch_size=batch_size)
        results.append([to_numpy(w) for w in scaler.weights])
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_allclose(a, b, rtol=1e-6)


class _ArrayDataset(keras.utils.PyDataset):
    def __init__(self, x, batch_size):
        super().__init__()
        self.x, self.batch_size = x, batch_size

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, i):
        return self.x[i * self.batch_size : (i + 1) * self.batch_size]


def test_scaler_needs_statistics():
    with pytest.raises(RuntimeError, match="call adapt"):
        SpectrogramScaler()(np.ones((1, 3, 3, 2), "float32"))
    with pytest.raises(RuntimeError, match="call adapt"):
        SpectrogramScaler().inverse()(np.ones((1, 3, 3, 2), "float32"))


def test_scaler_statistics_given_in_constructor(rng):
    x = rng.standard_normal((2, 4, 4, 2)).astype("float32")
    scaler = SpectrogramScaler("standard", axis=-1, mean=[1.0, 2.0], variance=[4.0, 9.0])
    np.testing.assert_allclose(to_numpy(scaler(x)), (x - [1.0, 2.0]) / [2.0, 3.0], atol=1e-6)
    scaler = SpectrogramScaler(minimum=-2.0, maximum=2.0, feature_range=(0, 1))
    np.testing.assert_allclose(to_numpy(scaler(x)), (x + 2) / 4, atol=1e-6)
    with pytest.raises(ValueError, match="takes both"):
        SpectrogramScaler("standard", mean=1.0)
    with pytest.raises(ValueError, match="takes both"):
        SpectrogramScaler("minmax", mean=1.0, variance=1.0)


@pytest.mark.parametrize("mode", ["minmax", "standard"])
def test_constant_data_stays_finite_and_invertible(mode):
    x = np.full((4, 3, 3, 2), 7.0, "float32")
    scaler = SpectrogramScaler(mode)
    scaler.adapt(x)
    y = to_numpy(scaler(x))
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(to_numpy(scaler.inverse()(y)), x)


def test_adapt_refuses_nan_and_inf_and_empty_data():
    x = np.ones((4, 3, 3, 2), "float32")
    x[0, 0, 0, 0], x[1, 1, 1, 1], x[2, 2, 2, 0] = np.nan, np.inf, -np.inf
    with pytest.raises(ValueError, match="3 NaN or inf"):
        SpectrogramScaler().adapt(x)
    with pytest.raises(ValueError, match="got no data"):
        SpectrogramScaler().adapt(iter([]))


def test_scaler_refuses_bad_settings():
    with pytest.raises(ValueError, match="mode"):
        SpectrogramScaler("robust")
    with pytest.raises(ValueError, match="feature_range"):
        SpectrogramScaler(feature_range=(1, 0))
    with pytest.raises(ValueError, match="batch axis"):
        SpectrogramScaler(axis=0).adapt(np.ones((2, 2), "float32"))


# --- MagnitudePhaseScaling ------------------------------------------------
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_magnitude_phase_scaling_formula_and_inverse(data_format, rng):
    x = rng.uniform(-np.pi, np.pi, (2, 5, 6, 4)).astype("float32")
    layer = MagnitudePhaseScaling(magnitude_scale=10.0, data_format=data_format)
    inputs = x if data_format == "channels_last" else np.moveaxis(x, -1, 1)
    y = to_numpy(layer(inputs))
    y = y if data_format == "channels_last" else np.moveaxis(y, 1, -1)
    np.testing.assert_allclose(y[..., 0::2], x[..., 0::2] / 10.0, rtol=1e-6)
    np.testing.assert_allclose(y[..., 1::2], (x[..., 1::2] + np.pi) / np.pi, rtol=1e-6)
    assert_exact(layer.inverse()(layer(inputs)), inputs)
    with pytest.raises(ValueError, match="even"):
        MagnitudePhaseScaling()(np.zeros((1, 2, 2, 3), "float32"))


# --- SpectrogramPipeline and the base class --------------------------------
def test_pipeline_adapts_each_layer_on_the_output_of_the_ones_before(rng):
    waves = rng.standard_normal((12, 1000, 2)).astype("float32") * 0.3
    pipeline = SpectrogramPipeline(
        [
            AudioPadding(1200, "center"),
            STFTSplit(n_fft=128, representation="mag_phase"),
            MagnitudePhaseScaling(),
            SpectrogramScaler("standard", axis="channels"),
            ChannelIndexer(magnitude_phase_order(2)),
            SpectrogramScaler("minmax"),
        ]
    )
    inverse = pipeline.inverse()
    pipeline.adapt(waves, batch_size=5)
    images = to_numpy(pipeline(waves))
    assert images.shape == (12, 65, 1 + 1200 // 32, 4)
    assert images.min() == pytest.approx(-1.0, abs=1e-5) and images.max() == pytest.approx(1.0, abs=1e-5)
    before_last = to_numpy(SpectrogramPipeline(pipeline.layers[:5])(waves))
    np.testing.assert_allclose(before_last.mean(axis=(0, 1, 2)), 0.0, atol=1e-4)
    np.testing.assert_allclose(before_last.std(axis=(0, 1, 2)), 1.0, atol=1e-4)
    back = to_numpy(inverse(pipeline(waves)))
    assert_exact(back[:, 100:1100], waves)
    assert [type(layer).__name__ for layer in inverse.layers] == [
        "Inverse",
        "ChannelIndexer",
        "Inverse",
        "Inverse",
        "InverseSTFTSplit",
        "Inverse",
    ]


def test_pipeline_refuses_plain_layers():
    with pytest.raises(ValueError, match="InvertibleLayers"):
        SpectrogramPipeline([keras.layers.Dense(3)])


@keras.saving.register_keras_serializable(package="tests")
class LogGain(InvertibleLayer):
    """A user's own adaptable step: divides by the mean of |x| seen in adapt(), then log1p."""

    def build(self, input_shape):
        self.level = self.add_weight(shape=(), initializer="ones", trainable=False)

    def call(self, x):
        return self.backend.numpy.log1p(x / self.convert_weight(self.level))

    def inverse_call(self, y):
        return self.backend.numpy.expm1(y) * self.convert_weight(self.level)

    def reset_state(self):
        self._sum, self._count = 0.0, 0

    def update_state(self, batch):
        if not self.built:
            self.build(batch.shape)
        batch = to_numpy(batch)
        self._sum, self._count = self._sum + np.abs(batch).sum(), self._count + batch.size

    def finalize_state(self):
        self.level.assign(self._sum / self._count)


def test_a_users_own_step_adapts_inverts_and_saves(rng, tmp_path):
    x = rng.uniform(0, 10, (8, 4, 4, 2)).astype("float32")
    step = LogGain()
    assert step.adaptable and not STFTSplit().adaptable
    inverse = step.inverse()
    assert isinstance(inverse, Inverse) and inverse.inverse() is step
    pipeline = SpectrogramPipeline([step])
    pipeline.adapt(x, batch_size=3)
    np.testing.assert_allclose(to_numpy(step.level), np.abs(x).mean(), rtol=1e-5)
    np.testing.assert_allclose(to_numpy(step(x)), np.log1p(x / np.abs(x).mean()), rtol=1e-5)
    assert_exact(inverse(step(x)), x)
    model = keras.Sequential([keras.Input((4, 4, 2)), step, inverse])
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(to_numpy(loaded(x)), to_numpy(model(x)), atol=1e-5)
    with pytest.raises(TypeError, match="cannot be adapted"):
        STFTSplit().adapt(x)


# --- the partial-state protocol: statistics merged exactly (sharded adapt) ---
@pytest.mark.parametrize(
    "mode, axis",
    [("minmax", None), ("standard", None), ("standard", "channels"), ("minmax", (1, 3)), ("standard", (1, 3))],
)
def test_merged_partial_states_equal_adapt_on_all_in_any_order(mode, axis, rng):
    x = (rng.standard_normal((10, 6, 5, 4)) * rng.uniform(0.1, 50.0, (10, 1, 1, 4)) + 3.0).astype("float32")
    whole = SpectrogramScaler(mode, axis=axis)
    whole.adapt(x, batch_size=10)
    sharded = SpectrogramScaler(mode, axis=axis)
    states = [sharded.partial_state([x[a:b], x[b:c]]) for a, b, c in [(0, 1, 3), (3, 3, 4), (4, 9, 10)]]
    assert not sharded.built  # computing partial states leaves the layer untouched
    assert all(v.dtype == "float64" for s in states for v in s.values())
    names = ("minimum", "maximum") if mode == "minmax" else ("mean", "variance")
    for order in (states, states[::-1], [states[1], states[2], states[0]]):
        sharded.load_state(sharded.merge_states(order))
        for name in names + ("count",):
            np.testing.assert_allclose(to_numpy(getattr(sharded, name)), to_numpy(getattr(whole, name)), rtol=1e-6)
    nested = sharded.merge_states([states[0], sharded.merge_states(states[1:])])
    for key, value in sharded.merge_states(states).items():
        np.testing.assert_allclose(nested[key], value, rtol=1e-12)
    assert_exact(sharded(x), to_numpy(whole(x)))
    expected = (
        x.var(axis=(0, 1, 2) if axis == "channels" else None, dtype="float64")
        if mode == "standard" and axis != (1, 3)
        else None
    )
    if expected is not None:
        np.testing.assert_allclose(to_numpy(sharded.variance).squeeze(), expected, rtol=1e-6)


def test_partial_states_of_nothing_and_of_other_shapes():
    scaler = SpectrogramScaler("standard", axis=-1)
    empty = scaler.partial_state([])
    assert set(empty) == {"count"} and empty["count"] == 0
    assert scaler.partial_state([np.zeros((0, 3, 2), "float32")])["count"] == 0
    one = scaler.partial_state([np.ones((2, 3, 2), "float32")])
    assert scaler.merge_states([empty, one, empty])["count"] == 6  # values per statistic
    with pytest.raises(ValueError, match="got no data"):
        scaler.load_state(empty)
    with pytest.raises(ValueError, match="cannot be merged"):
        scaler.merge_states([one, scaler.partial_state([np.ones((2, 3, 5), "float32")])])
    scaler.load_state(one)
    with pytest.raises(ValueError, match="does not fit"):
        scaler.load_state(SpectrogramScaler("standard", axis=-1).partial_state([np.ones((1, 3, 5), "float32")]))
    with pytest.raises(ValueError, match="does not fit"):
        scaler.partial_state([np.ones((1, 3, 5), "float32")])


def test_a_users_own_layer_with_the_partial_state_protocol(rng):
    from distributed_worker import RMSGain  # the README's example of a user's mergeable step

    x = rng.standard_normal((9, 40, 2)).astype("float32") * 3.0
    step = RMSGain()
    assert step.adaptable and step.mergeable and not LogGain().mergeable and LogGain().adaptable
    step.adapt(x, batch_size=4)  # adapt() runs on top of the protocol
    np.testing.assert_allclose(to_numpy(step.rms), np.sqrt(np.mean(np.square(x, dtype="float64"))), rtol=1e-6)
    other = RMSGain()
    other.load_state(other.merge_states([other.partial_state([x[i : i + 2]]) for i in range(0, 9, 2)][::-1]))
    np.testing.assert_allclose(to_numpy(other.rms), to_numpy(step.rms), rtol=1e-6)
    assert_exact(step.inverse()(step(x)), x)
    with pytest.raises(ValueError, match="got no data"):
        RMSGain().adapt(iter([]))

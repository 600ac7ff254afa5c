"""The loss and metric contract: every public loss and metric gives the same numbers on every path.

Parametrized over the `keras.losses.Loss` / `keras.metrics.Metric` classes of `keras_spectro.losses`
and `keras_spectro.metrics`: a new one is picked up by these tests and fails them until it has an
entry in EXAMPLES (one line: how to make it, the waveforms it takes).
Contract: compiled (torch.compile on PyTorch, `jax.jit`, XLA `tf.function`) value and gradient equal
the eager ones; config round trip (registered name, JSON, every argument in the config); saved and
loaded inside a compiled model; a batch of one and of none; one value per example under Keras'
reduction and `sample_weight`; silence gives finite values and gradients. Targets that do not
line up are refused.
"""

import inspect
import json

import keras
import numpy as np
import pytest

import keras_spectro as ks

from conftest import BACKEND, to_numpy

SAMPLES = 600


def public(module, base):
    return sorted(
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and isinstance(value, type) and issubclass(value, base)
    )


def pipeline(dft="fft"):
    return [ks.STFTSplit(n_fft=64, hop_length=16, representation="magnitude", dft=dft)]


# name: (make it, the waveforms' shape without the batch)
EXAMPLES = {
    "STFTLoss": (lambda: ks.losses.STFTLoss(128, 32), (SAMPLES, 2)),
    "STFTLoss matmul": (lambda: ks.losses.SpectrogramLoss(pipeline("matmul")), (SAMPLES, 2)),
    "MultiResolutionSTFTLoss": (lambda: ks.losses.MultiResolutionSTFTLoss((64, 128), (16, 32), (64, 96)), (SAMPLES, 1)),
    "STFTLoss mel": (
        lambda: ks.losses.STFTLoss(128, 32, lin_mag_weight=0.5, n_mels=16, sample_rate=16000),
        (SAMPLES, 2),
    ),
    "SpectrogramLoss": (lambda: ks.losses.SpectrogramLoss(pipeline()), (SAMPLES, 2)),
    "SpectrogramLoss log": (
        lambda: ks.losses.SpectrogramLoss(
            [*pipeline(), ks.MagnitudeCompression("log", representation="magnitude")], distance="l2"
        ),
        (SAMPLES, 1),
    ),
    "SISDRLoss": (lambda: ks.losses.SISDRLoss(), (SAMPLES, 2)),
    "SNRLoss": (lambda: ks.losses.SNRLoss(zero_mean=True), (SAMPLES, 2)),
    "PermutationInvariant": (lambda: ks.losses.PermutationInvariant(ks.losses.SISDRLoss()), (2, SAMPLES, 1)),
    "SISDR": (lambda: ks.metrics.SISDR(), (SAMPLES, 2)),
    "SNR": (lambda: ks.metrics.SNR(zero_mean=True), (SAMPLES, 2)),
}
NAMES = public(ks.losses, keras.losses.Loss) + public(ks.metrics, keras.metrics.Metric)
ALL = sorted(set(NAMES) | set(EXAMPLES))  # every public name, and the extra settings of some


def pair(shape, batch=3, seed=0):
    rng = np.random.default_rng(seed)
    y_true = rng.standard_normal((batch, *shape)).astype("float32")
    return y_true, (y_true + 0.5 * rng.standard_normal(y_true.shape)).astype("float32")


def example(name):
    if name not in EXAMPLES:
        pytest.fail(
            f"{name} is public in keras_spectro.losses/metrics but has no entry in tests/test_loss_contract.py EXAMPLES: add one."
        )
    return EXAMPLES[name]


@pytest.mark.skipif(BACKEND == "torch", reason="torch.compile takes minutes: tests/test_torch_compile.py (heavy)")
@pytest.mark.parametrize("name", ALL)
def test_compiled_value_and_gradient_are_the_eager_ones(name):
    compiled_is_eager(name)


def value_and_gradient(fn, y_true, y_pred, compiled):
    """fn(y_true, y_pred) and its gradient in y_pred, eager or compiled, as numpy."""
    if BACKEND == "torch":
        import torch

        pred = torch.tensor(y_pred, requires_grad=True)
        run = torch.compile(fn) if compiled else fn
        value = run(torch.tensor(y_true), pred)
        value.backward()
        return value.detach().numpy(), pred.grad.numpy()
    if BACKEND == "jax":
        import jax

        run = jax.value_and_grad(lambda p, t: fn(t, p))
        value, grad = (jax.jit(run) if compiled else run)(y_pred, y_true)
        return np.asarray(value), np.asarray(grad)
    import tensorflow as tf

    def run(t, p):
        with tf.GradientTape() as tape:
            tape.watch(p)
            value = fn(t, p)
        return value, tape.gradient(value, p)

    run = tf.function(run, jit_compile=True) if compiled else run
    value, grad = run(tf.constant(y_true), tf.constant(y_pred))
    return value.numpy(), grad.numpy()


def compiled_is_eager(name):
    """The contract: a loss's compiled value and gradient, a metric's compiled update, equal the eager ones."""
    make, shape = example(name)
    y_true, y_pred = pair(shape)
    item = make()
    if isinstance(item, keras.metrics.Metric):
        expected = to_numpy(item(y_true, y_pred))
        metric = make()
        if BACKEND == "torch":
            import torch

            compiled = torch.compile(lambda t, p: metric.update_state(t, p))
            compiled(torch.tensor(y_true), torch.tensor(y_pred))
        elif BACKEND == "jax":  # the stateless path a JAX training loop takes
            import jax

            variables = [v.value for v in metric.variables]
            variables = jax.jit(metric.stateless_update_state)(variables, y_true, y_pred)
            for variable, value in zip(metric.variables, variables):
                variable.assign(value)
        else:
            import tensorflow as tf

            tf.function(metric.update_state, jit_compile=True)(y_true, y_pred)
        np.testing.assert_allclose(to_numpy(metric.result()), expected, rtol=1e-5, atol=1e-5)
        return
    value, grad = value_and_gradient(item, y_true, y_pred, compiled=False)
    compiled_value, compiled_grad = value_and_gradient(make(), y_true, y_pred, compiled=True)
    np.testing.assert_allclose(compiled_value, value, rtol=1e-5, atol=1e-6, err_msg=f"{name}: value")
    scale = np.abs(grad).max()
    np.testing.assert_allclose(compiled_grad, grad, atol=1e-5 * scale, rtol=1e-4, err_msg=f"{name}: gradient")


def is_metric(item):
    return isinstance(item, keras.metrics.Metric)


def value(item, y_true, y_pred, **options):
    """A loss's value, or a fresh metric's result after one update, as numpy."""
    if is_metric(item):
        item.reset_state()
        item.update_state(y_true, y_pred, **options)
        return to_numpy(item.result())
    return to_numpy(item(y_true, y_pred, **options))


def as_json(config):
    return json.loads(json.dumps(config))  # tuples become lists, as in a saved file


@pytest.mark.parametrize("name", ALL)
def test_config_round_trips_through_json_with_every_argument(name):
    make, shape = example(name)
    item = make()
    assert keras.saving.get_registered_name(type(item)).startswith("keras_spectro>"), name
    arguments = [
        argument
        for argument, parameter in inspect.signature(type(item).__init__).parameters.items()
        if argument != "self" and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
    ]
    missing = sorted(set(arguments) - set(item.get_config()))
    assert not missing, f"{name}: get_config() leaves out {missing}"
    config = keras.saving.serialize_keras_object(item)
    again = keras.saving.deserialize_keras_object(as_json(config))
    assert type(again) is type(item) and keras.saving.serialize_keras_object(again) == config, name
    y_true, y_pred = pair(shape)
    np.testing.assert_allclose(value(again, y_true, y_pred), value(item, y_true, y_pred), rtol=1e-6, err_msg=name)


def tiny_model(item, shape):
    """Dense over the channels, compiled with `item` as its loss (a metric: as its metric, with "mse")."""
    inputs = keras.Input(shape)
    dense = keras.layers.Dense(shape[-1], kernel_initializer=keras.initializers.GlorotUniform(seed=1))
    model = keras.Model(inputs, dense(inputs))
    model.compile(optimizer="adam", **({"loss": "mse", "metrics": [item]} if is_metric(item) else {"loss": item}))
    return model


@pytest.mark.parametrize("name", ALL)
def test_a_compiled_model_saves_and_loads_with_it(name, tmp_path):
    make, shape = example(name)
    item = make()
    y_true, y_pred = pair(shape)
    model = tiny_model(item, shape)
    expected = model.evaluate(y_pred, y_true, verbose=0, return_dict=True)
    model.optimizer.build(model.trainable_variables)  # saved as it is loaded (no warning of skipped variables)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")  # no custom_objects: the registered names
    if not is_metric(item):
        assert type(loaded.loss) is type(item), name
        assert as_json(loaded.loss.get_config()) == as_json(item.get_config()), name
    got = loaded.evaluate(y_pred, y_true, verbose=0, return_dict=True)
    assert set(got) == set(expected) and (not is_metric(item) or item.name in got), (name, got, expected)
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-5, err_msg=f"{name}: {key}")


def per_example(make, y_true, y_pred):
    """Each example's value from a batch of one, checked to be that example's value in the batch."""
    item, count = make(), len(y_true)
    if not is_metric(item):
        item.reduction = None
        batch = value(item, y_true, y_pred)
        assert batch.shape == (count,), f"reduction=None gives shape {batch.shape} for a batch of {count}"
    values = []
    for i in range(count):
        single = value(item, y_true[i : i + 1], y_pred[i : i + 1])
        if is_metric(item):  # that example's value in the batch: its weight alone
            in_batch = value(item, y_true, y_pred, sample_weight=np.eye(count, dtype="float32")[i])
        else:
            assert single.shape == (1,), f"a batch of one gives shape {single.shape}"
            single, in_batch = single[0], batch[i]
        np.testing.assert_allclose(single, in_batch, rtol=1e-5, atol=1e-6, err_msg=f"example {i}")
        values.append(single)
    return np.array(values)


@pytest.mark.parametrize("name", ALL)
def test_a_batch_of_one_gives_that_examples_value_in_a_batch_of_three(name):
    make, shape = example(name)
    values = per_example(make, *pair(shape))
    assert np.all(np.isfinite(values)) and len(set(values.tolist())) == len(values), (name, values)


@pytest.mark.parametrize("name", ALL)
def test_an_empty_batch_gives_nothing(name):
    make, shape = example(name)
    empty = np.zeros((0, *shape), "float32")
    nothing = value(make(), empty, empty)  # Keras' reduction of no values: 0 (a metric) or an empty array (a loss)
    assert nothing.size <= 1 and not np.any(nothing), f"{name}: an empty batch gives {nothing}"


@pytest.mark.parametrize("name", ALL)
def test_one_value_per_example_with_keras_reduction_and_sample_weight(name):
    make, shape = example(name)
    y_true, y_pred = pair(shape)
    values = per_example(make, y_true, y_pred)
    weight = np.array([0.5, 0.0, 2.0], "float32")
    item = make()
    if is_metric(item):  # the mean of the examples' values, weighted by sample_weight
        np.testing.assert_allclose(value(item, y_true, y_pred), values.mean(), rtol=1e-5, err_msg=name)
        weighted = value(item, y_true, y_pred, sample_weight=weight)
        np.testing.assert_allclose(weighted, np.dot(weight, values) / weight.sum(), rtol=1e-5, err_msg=name)
        return
    np.testing.assert_allclose(value(item, y_true, y_pred), values.mean(), rtol=1e-5, err_msg=name)
    weighted = value(item, y_true, y_pred, sample_weight=weight)  # Keras' sum_over_batch_size
    np.testing.assert_allclose(weighted, np.dot(weight, values) / len(values), rtol=1e-5, err_msg=name)
    item.reduction = "sum"
    np.testing.assert_allclose(value(item, y_true, y_pred), values.sum(), rtol=1e-5, err_msg=name)


SILENCES = ("silent target", "silent prediction", "both")


def silences(shape):
    """A batch of the three: silent target, silent prediction, both silent."""
    y_true, y_pred = pair(shape, batch=1)
    zeros = np.zeros_like(y_true)
    return np.concatenate([zeros, y_true, zeros]), np.concatenate([y_pred, zeros, zeros])


@pytest.mark.parametrize("name", ALL)
def test_silence_gives_finite_values_and_gradients(name):
    make, shape = example(name)
    y_true, y_pred = silences(shape)
    item = make()
    if is_metric(item):
        results = [value(item, y_true[i : i + 1], y_pred[i : i + 1]) for i in range(len(SILENCES))]
        assert np.all(np.isfinite(results)), (name, dict(zip(SILENCES, results)))
        return
    result, gradient = value_and_gradient(item, y_true, y_pred, compiled=BACKEND == "jax")  # eager JAX: slow
    bad = [case for case, part in zip(SILENCES, gradient) if not np.all(np.isfinite(part))]
    assert np.isfinite(result) and not bad, f"{name}: value {result}, gradient not finite for {bad}"


# --- targets that do not line up ----------------------------------------------------------
WAVE_LOSSES = {
    "STFTLoss": lambda **kw: ks.losses.STFTLoss(128, 32, **kw),
    "SISDRLoss": lambda **kw: ks.losses.SISDRLoss(**kw),
    "SNRLoss": lambda **kw: ks.losses.SNRLoss(**kw),
    "SISDR": lambda **kw: ks.metrics.SISDR(**kw),
    "SNR": lambda **kw: ks.metrics.SNR(**kw),
}


@pytest.mark.parametrize("name", sorted(WAVE_LOSSES))
def test_targets_of_other_samples_or_channels_are_refused_naming_both_shapes(name):
    make = WAVE_LOSSES[name]
    y_true, y_pred = pair((SAMPLES, 2))
    longer = np.pad(y_pred, ((0, 0), (0, 10), (0, 0)))
    with pytest.raises(ValueError, match=r"\(3, 600, 2\) and y_pred \(3, 610, 2\) do not line up"):
        make()(y_true, longer)
    with pytest.raises(ValueError, match="broadcast_channels=True"):
        make()(y_true[..., :1], y_pred)
    mono = y_true[..., :1]
    np.testing.assert_allclose(
        to_numpy(make(broadcast_channels=True)(mono, y_pred)),
        to_numpy(make()(np.repeat(mono, 2, axis=-1), y_pred)),
        rtol=1e-6,
    )
    with pytest.raises(ValueError, match="do not line up"):
        make(broadcast_channels=True)(y_true, y_pred[..., :1])  # only the target is broadcast


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("name", sorted(WAVE_LOSSES))
def test_a_wrong_rank_is_refused_naming_the_layout(name, data_format):
    layout = r"\(batch, samples, channels\)" if data_format == "channels_last" else r"\(batch, channels, samples\)"
    for shape in [(1, 1000), (5, 1, 1, 1000)]:
        x = np.zeros(shape, "float32")
        with pytest.raises(ValueError, match=layout):
            WAVE_LOSSES[name](data_format=data_format)(x, x)


def test_spectrogram_and_permutation_losses_refuse_unequal_shapes():
    y_true, y_pred = pair((SAMPLES, 1))
    with pytest.raises(ValueError, match="do not line up"):
        ks.losses.SpectrogramLoss(pipeline())(y_true[:, :1], y_pred)
    y_true, y_pred = pair((2, SAMPLES, 1))
    with pytest.raises(ValueError, match="do not line up"):
        ks.losses.PermutationInvariant(ks.losses.SISDRLoss())(y_true[:, :, :1], y_pred)


def test_snr_zero_mean_is_torchmetrics():
    import torch
    import torchmetrics.functional as tmf

    y_true, y_pred = pair((SAMPLES, 1))
    y_true, y_pred = y_true + 0.3, y_pred - 0.2
    for zero_mean in (True, False):
        expected = tmf.signal_noise_ratio(
            torch.tensor(y_pred[..., 0]), torch.tensor(y_true[..., 0]), zero_mean=zero_mean
        ).numpy()
        assert to_numpy(ks.metrics.SNR(zero_mean=zero_mean)(y_true, y_pred)) == pytest.approx(expected.mean(), rel=1e-4)
        loss = ks.losses.SNRLoss(zero_mean=zero_mean, reduction=None)
        np.testing.assert_allclose(-to_numpy(loss(y_true, y_pred)), expected, rtol=1e-4)


def test_spectrogram_loss_gives_no_hint_it_cannot_follow():
    loss = ks.losses.SpectrogramLoss(pipeline())
    y_true, y_pred = pair((SAMPLES, 2))
    with pytest.raises(ValueError, match=r"do not line up \(layout [^)]*\(equal shapes\)\)\.$"):
        loss(y_true[..., :1], y_pred)  # SpectrogramLoss has no broadcast_channels to point to


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_permutation_invariant_follows_its_inner_loss_broadcast_channels(data_format):
    y_true, y_pred = pair((2, SAMPLES, 2))  # (batch, sources, samples, channels)
    if data_format == "channels_first":
        y_true, y_pred = np.swapaxes(y_true, 2, 3), np.swapaxes(y_pred, 2, 3)
    mono = y_true[:, :, :1] if data_format == "channels_first" else y_true[..., :1]
    inner = ks.losses.SISDRLoss(data_format=data_format, broadcast_channels=True)
    expected = ks.losses.PermutationInvariant(ks.losses.SISDRLoss(data_format=data_format))(
        np.repeat(mono, 2, axis=2 if data_format == "channels_first" else 3), y_pred
    )
    got = ks.losses.PermutationInvariant(inner)(mono, y_pred)
    np.testing.assert_allclose(to_numpy(got), to_numpy(expected), rtol=1e-5)
    with pytest.raises(ValueError, match="broadcast_channels=True"):
        ks.losses.PermutationInvariant(ks.losses.SISDRLoss(data_format=data_format))(mono, y_pred)

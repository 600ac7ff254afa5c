"""Every public loss and metric on every path: eager, compiled (torch.compile on PyTorch, `jax.jit`,
XLA `tf.function`) with its gradient, `fit(jit_compile=True)`; targets that do not line up refused.

Parametrized over the `keras.losses.Loss` / `keras.metrics.Metric` classes of `keras_spectro.losses`
and `keras_spectro.metrics`: a new one fails these tests until it has an entry in EXAMPLES.
"""

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
    "SpectrogramLoss": (lambda: ks.losses.SpectrogramLoss(pipeline()), (SAMPLES, 2)),
    "SISDRLoss": (lambda: ks.losses.SISDRLoss(), (SAMPLES, 2)),
    "SNRLoss": (lambda: ks.losses.SNRLoss(zero_mean=True), (SAMPLES, 2)),
    "PermutationInvariant": (lambda: ks.losses.PermutationInvariant(ks.losses.SISDRLoss()), (2, SAMPLES, 1)),
    "SISDR": (lambda: ks.metrics.SISDR(), (SAMPLES, 2)),
    "SNR": (lambda: ks.metrics.SNR(zero_mean=True), (SAMPLES, 2)),
}
NAMES = public(ks.losses, keras.losses.Loss) + public(ks.metrics, keras.metrics.Metric)


def pair(shape, batch=3, seed=0):
    rng = np.random.default_rng(seed)
    y_true = rng.standard_normal((batch, *shape)).astype("float32")
    return y_true, (y_true + 0.5 * rng.standard_normal(y_true.shape)).astype("float32")


def example(name):
    if name not in EXAMPLES:
        pytest.fail(f"{name} is public in keras_spectro.losses/metrics but has no entry in tests/test_loss_paths.py.")
    return EXAMPLES[name]


@pytest.mark.skipif(BACKEND == "torch", reason="torch.compile takes minutes: tests/test_torch_compile.py (heavy)")
@pytest.mark.parametrize("name", sorted(set(NAMES) | set(EXAMPLES)))
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
    config = ks.metrics.SNR(zero_mean=True).get_config()
    assert ks.metrics.SNR.from_config(config).zero_mean


@pytest.mark.parametrize("name", ["STFTLoss", "SISDRLoss", "SISDR"])
def test_per_example_sample_weight_and_an_empty_batch(name):
    make = WAVE_LOSSES[name]
    y_true, y_pred = pair((SAMPLES, 2))
    per_example = (
        to_numpy(make()(y_true, y_pred)) if name == "SISDR" else to_numpy(make(reduction=None)(y_true, y_pred))
    )
    weight = np.array([1.0, 0.0, 3.0], "float32")
    weighted = to_numpy(make()(y_true, y_pred, sample_weight=weight))
    if name == "SISDR":  # a mean weighted by the example weights; per-example values from one-example batches
        values = [to_numpy(make()(y_true[i : i + 1], y_pred[i : i + 1])) for i in range(3)]
        assert weighted == pytest.approx(np.dot(weight, values) / weight.sum(), rel=1e-5)
    else:  # Keras' sum_over_batch_size: the weighted sum over the batch size
        assert weighted == pytest.approx(np.dot(weight, per_example) / 3, rel=1e-5)
    empty = np.zeros((0, SAMPLES, 2), "float32")
    value = to_numpy(make()(empty, empty))  # Keras' reduction of no values: 0 (a metric) or an empty array (a loss)
    assert value.size <= 1 and not np.any(value), f"{name}: an empty batch gives {value}"


def test_spectrogram_loss_takes_an_empty_batch_and_gives_no_hint_it_cannot_follow():
    loss = ks.losses.SpectrogramLoss(pipeline())
    empty = np.zeros((0, SAMPLES, 1), "float32")
    assert to_numpy(loss(empty, empty)).size <= 1 and not np.any(to_numpy(loss(empty, empty)))
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

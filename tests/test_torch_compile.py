"""PyTorch's torch.compile (Keras `jit_compile=True`) on every loss, metric and STFT path: the eager numbers.

Slow (a compile per case): run by the heavy tox env, `KS_HEAVY=1 KERAS_BACKEND=torch pytest tests/test_torch_compile.py`.
"""

import os

import keras
import numpy as np
import pytest
from test_contract import LAYERS, close, example, model_of
from test_loss_contract import EXAMPLES, NAMES, compiled_is_eager, pair

import keras_spectro as ks

from conftest import BACKEND

pytestmark = pytest.mark.skipif(
    BACKEND != "torch" or not os.environ.get("KS_HEAVY"), reason="torch.compile, slow: the heavy tox env (KS_HEAVY=1)"
)


@pytest.mark.parametrize("name", sorted(set(NAMES) | set(EXAMPLES)))
def test_compiled_value_and_gradient_are_the_eager_ones(name):
    compiled_is_eager(name)


@pytest.mark.parametrize("name", LAYERS)
def test_every_layer_under_jit_compile_gives_the_eager_numbers(name):
    make, x, x2, shape, _ = example(name)
    layer = make()
    expected2 = keras.ops.convert_to_numpy(layer(x2))
    close(
        model_of(make(), shape, jit_compile=True).predict(x2, verbose=0), expected2, name, "jit_compile (torch.compile)"
    )


@pytest.mark.parametrize("name", ["STFTLoss", "STFTLoss matmul", "MultiResolutionSTFTLoss", "SpectrogramLoss"])
def test_fit_with_torch_compile_learns_the_eager_weights(name):
    make, shape = EXAMPLES[name]
    y_true, x = pair(shape, batch=4)

    def fit(jit_compile):
        keras.utils.set_random_seed(1)
        model = keras.Sequential([keras.Input(shape), keras.layers.Conv1D(shape[-1], 3, padding="same")])
        model.compile("sgd", loss=make(), jit_compile=jit_compile)
        history = model.fit(x, y_true, batch_size=2, epochs=2, verbose=0, shuffle=False)
        return history.history["loss"], model.get_weights()

    eager_loss, eager_weights = fit(False)
    compiled_loss, compiled_weights = fit(True)
    np.testing.assert_allclose(compiled_loss, eager_loss, rtol=1e-5)
    for a, b in zip(compiled_weights, eager_weights):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_an_stft_layer_fed_by_a_trainable_layer_differentiates_as_eager_under_torch_compile():
    import torch

    dense = keras.layers.Dense(1)
    split = ks.STFTSplit(n_fft=64, hop_length=16)
    x = np.random.default_rng(3).standard_normal((2, 400, 1)).astype("float32")
    dense.build(x.shape)

    def loss(waves):
        return keras.ops.mean(keras.ops.abs(split(dense(waves))))

    def run(fn):
        dense.zero_grad() if hasattr(dense, "zero_grad") else None
        value = fn(torch.tensor(x))
        grads = torch.autograd.grad(value, [w.value for w in dense.trainable_weights])
        return value.item(), [g.numpy() for g in grads]

    value, grads = run(loss)
    compiled_value, compiled_grads = run(torch.compile(loss))
    assert compiled_value == pytest.approx(value, rel=1e-5)
    for a, b in zip(compiled_grads, grads):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)

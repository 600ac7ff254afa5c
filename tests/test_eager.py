"""Eager calls run through compiled functions cached per input signature (issue 12)."""

import copy
import pickle

import keras
import numpy as np
import pytest

from keras_spectro import GriffinLim, InverseSTFTSplit, SpectrogramPipeline, SpectrogramScaler, STFTSplit
from keras_spectro.functional import compiled
from keras_spectro.functional.framing import overlap_add

from conftest import BACKEND, assert_exact, to_numpy

COMPILES = BACKEND in ("jax", "tensorflow")


def plain(monkeypatch):
    """Makes eager calls run uncompiled, as before issue 12."""
    monkeypatch.setattr(compiled, "_COMPILERS", {})


@pytest.mark.parametrize("representation", ["real_imag", "mag_phase", "magnitude"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_compiled_eager_path_gives_the_traced_and_plain_numbers(representation, data_format, rng, monkeypatch):
    shape = (2, 3000, 2) if data_format == "channels_last" else (2, 2, 3000)
    waves = rng.standard_normal(shape).astype("float32")
    stft = STFTSplit(n_fft=256, hop_length=64, representation=representation, data_format=data_format)
    inverse = stft.inverse()
    if representation == "magnitude":
        inverse = GriffinLim.from_config(inverse.get_config() | {"n_iter": 4, "length": 3000})
    images = to_numpy(stft(waves))
    back = to_numpy(inverse(images))
    if COMPILES:  # the eager calls went through compiled functions
        assert stft._compiled._functions and inverse._compiled._functions
    inputs = keras.Input(shape[1:])
    assert_exact(keras.Model(inputs, stft(inputs)).predict_on_batch(waves), images)
    plain(monkeypatch)
    assert_exact(STFTSplit.from_config(stft.get_config())(waves), images)
    assert_exact(type(inverse).from_config(inverse.get_config())(images), back, 1e-4)
    if representation != "magnitude":
        assert_exact(back, waves)


def test_scaler_adapted_again_after_an_eager_call_uses_the_new_statistics(rng):
    quiet, loud = (scale * rng.standard_normal((4, 2000, 2)).astype("float32") for scale in (0.01, 5.0))
    pipeline = SpectrogramPipeline([STFTSplit(n_fft=128, hop_length=32), SpectrogramScaler()])
    pipeline.adapt(quiet)
    pipeline(loud)
    pipeline.adapt(loud)
    fresh = SpectrogramPipeline([STFTSplit(n_fft=128, hop_length=32), SpectrogramScaler()])
    fresh.adapt(loud)
    assert_exact(pipeline(loud), to_numpy(fresh(loud)))
    assert_exact(pipeline.inverse()(pipeline(loud)), loud)


@pytest.mark.parametrize(
    "make",
    [
        lambda: STFTSplit(n_fft=128, hop_length=32),
        lambda: InverseSTFTSplit(n_fft=128, hop_length=32),
        lambda: GriffinLim(n_fft=128, hop_length=32, n_iter=3),
    ],
)
def test_copies_and_pickles_after_an_eager_call(make, rng):
    layer = make()
    data = rng.standard_normal((2, 1000, 2)).astype("float32")
    if not isinstance(layer, STFTSplit):
        data = to_numpy(
            STFTSplit(
                n_fft=128, hop_length=32, representation="magnitude" if isinstance(layer, GriffinLim) else "real_imag"
            )(data)
        )
    expected = to_numpy(layer(data))
    for other in (copy.deepcopy(layer), pickle.loads(pickle.dumps(layer))):
        assert not other._compiled._functions
        assert_exact(other(data), expected)


def test_several_lengths_in_a_row_and_a_bounded_cache(rng):
    stft = STFTSplit(n_fft=128, hop_length=32)
    inverse = stft.inverse()
    lengths = [1000, 1500, 1000, 2047] + list(range(500, 500 + compiled.MAX_SIGNATURES + 2))
    for samples in lengths:
        waves = rng.standard_normal((1, samples, 2)).astype("float32")
        images = stft(waves)
        assert images.shape == (1, 65, 1 + samples // 32, 4)
        assert_exact(inverse(images), waves)
    assert len(stft._compiled._functions) <= compiled.MAX_SIGNATURES


def test_traced_calls_leave_the_cache_alone(rng):
    stft = STFTSplit(n_fft=128, hop_length=32)
    waves = rng.standard_normal((1, 1000, 2)).astype("float32")
    model = keras.Model(inputs := keras.Input((1000, 2)), stft(inputs))
    model.compile(jit_compile=BACKEND != "torch")
    model.predict_on_batch(waves)
    assert not stft._compiled._functions


@pytest.mark.parametrize("hop", [1, 3, 32])
def test_hop_1_and_odd_hops_invert_exactly(hop, rng):
    waves = rng.standard_normal((1, 700, 2)).astype("float32")
    stft = STFTSplit(n_fft=128, hop_length=hop)
    assert_exact(stft.inverse()(stft(waves)), waves)


@pytest.mark.parametrize("size, count, hop", [(512, 40, 1), (512, 3, 7), (10, 5, 3), (8, 4, 16), (1024, 10, 256)])
def test_overlap_add_equals_a_loop(size, count, hop, rng):
    segments = rng.standard_normal((2, count, size))
    expected = np.zeros((2, (count - 1) * hop + size))
    for t in range(count):
        expected[:, t * hop : t * hop + size] += segments[:, t]
    np.testing.assert_allclose(overlap_add(np, segments, count, hop), expected, atol=1e-12)

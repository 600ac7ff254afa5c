"""Shared helpers. Run once per backend: KERAS_BACKEND=jax pytest (tox does all three)."""

import pathlib

import keras
import numpy as np
import pytest
import soundfile

DATA = pathlib.Path(__file__).parent / "data"
BACKEND = keras.backend.backend()


def to_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def assert_exact(actual, expected, tolerance=1e-5):
    """Max abs error <= tolerance x peak of `expected` (float32 rounding)."""
    actual, expected = to_numpy(actual), np.asarray(expected)
    assert actual.shape == expected.shape
    assert np.all(np.isfinite(actual))
    peak = np.abs(expected).max()
    error = np.abs(actual - expected).max()
    assert error <= tolerance * peak, f"max error {error:.3g} > {tolerance} x peak {peak:.3g}"


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def voice():
    """Two seconds of the stereo test recording, (samples, channels) float32."""
    wave, rate = soundfile.read(DATA / "voice_stereo_16bit_44k.wav", dtype="float32", frames=2 * 44100)
    return wave, rate


@pytest.fixture(autouse=True)
def _fresh_keras():
    yield
    keras.config.set_dtype_policy("float32")

"""Constants stay on the device (issue 23): an eager call converts no numpy constant after the first."""

import copy
import pickle

import keras
import numpy as np
import pytest

import keras_spectro as ks
from keras_spectro.functional import constants as constants_module
from keras_spectro.functional.constants import DeviceConstants

from conftest import BACKEND, assert_exact, to_numpy


class _Poison:
    """Stands for a numpy constant that must not be read again: any use raises."""

    def __init__(self, name):
        self.name = name

    def _refuse(self, *args, **kwargs):
        raise AssertionError(f"an eager call read the numpy constant {self.name!r} again")

    __array__ = __getitem__ = __len__ = __iter__ = __float__ = _refuse
    __add__ = __radd__ = __mul__ = __rmul__ = __sub__ = __rsub__ = __truediv__ = __rtruediv__ = _refuse
    __matmul__ = __rmatmul__ = _refuse

    def __getattr__(self, attribute):
        self._refuse()


def _poison_numpy_constants(monkeypatch, layers):
    """Makes every numpy constant of `layers` (and of their STFT settings) raise when read, and making a device
    tensor fail: what the next calls need must already be cached."""

    def refuse(*args, **kwargs):
        raise AssertionError("an eager call converted a numpy constant again")

    monkeypatch.setattr(constants_module, "_on_device", refuse)
    for layer in layers:
        settings = getattr(layer, "_stft", None)
        if settings is not None:
            transform = settings.transform
            for name in ("window", "forward", "inverse"):
                if hasattr(transform, name):
                    monkeypatch.setattr(transform, name, _Poison(name))
            monkeypatch.setitem(settings.__dict__, "edge_bins", _Poison("edge_bins"))
            monkeypatch.setattr(settings.window_sums, "reciprocal", _Poison("reciprocal"))
        for name in ("filters", "_pinv_t", "_step", "_shift", "_scale"):
            if hasattr(layer, name):
                monkeypatch.setattr(layer, name, _Poison(name))


def _owners(layers):
    """The `DeviceConstants` of `layers` and of their settings."""
    found = []
    for layer in layers:
        settings = getattr(layer, "_stft", None)
        if settings is not None:
            found += [settings.constants, settings.transform.constants, settings.window_sums.constants]
        if hasattr(layer, "_constants"):
            found.append(layer._constants)
    return found


def _cases():
    stft = [
        dict(n_fft=256, hop_length=64, representation=r, dft=d)
        for d in ("fft", "matmul")
        for r in ("real_imag", "mag_phase")
    ]
    return [("stft", kwargs) for kwargs in stft] + [("magnitude", {}), ("mel", {}), ("phase_scaling", {})]


def _layers(kind, kwargs):
    """(forward layer, inverse layer, input) of one case."""
    rng = np.random.default_rng(5)
    waves = rng.standard_normal((2, 1500, 2)).astype("float32")
    if kind == "stft":
        stft = ks.STFTSplit(**kwargs)
        return stft, stft.inverse(), waves
    if kind == "magnitude":
        stft = ks.STFTSplit(n_fft=128, hop_length=32, representation="magnitude")
        return stft, ks.GriffinLim(n_fft=128, hop_length=32, n_iter=2, length=1500), waves
    if kind == "mel":
        mel = ks.MelScale(sample_rate=16000, n_fft=256, n_mels=20, n_iter=2)
        return mel, mel.inverse(), np.abs(rng.standard_normal((2, 129, 10, 2))).astype("float32")
    scaling = ks.MagnitudePhaseScaling(magnitude_scale=2.0)
    return scaling, scaling.inverse(), rng.standard_normal((2, 9, 10, 4)).astype("float32")


@pytest.mark.parametrize("kind, kwargs", _cases())
def test_eager_calls_convert_no_numpy_constant_after_the_first(kind, kwargs, monkeypatch):
    forward, inverse, x = _layers(kind, kwargs)
    x = keras.ops.convert_to_tensor(x)
    first = to_numpy(forward(x))
    back = to_numpy(inverse(keras.ops.convert_to_tensor(first)))
    owners = _owners([forward, inverse])
    conversions = [owner.conversions for owner in owners]
    cached = [dict(owner._tensors) for owner in owners]
    _poison_numpy_constants(monkeypatch, [forward, inverse])
    for _ in range(2):
        image = forward(x)
        assert_exact(image, first, 0)
        assert_exact(inverse(image), back, 0)
    assert [owner.conversions for owner in owners] == conversions
    for owner, before in zip(owners, cached):  # the very same tensors, none made again
        assert owner._tensors.keys() == before.keys()
        assert all(owner._tensors[key] is tensor for key, tensor in before.items())
    if BACKEND == "torch" and kind in ("stft", "mel", "phase_scaling"):
        assert sum(conversions) > 0  # torch runs eagerly op by op: its constants are the cached tensors


def test_gradients_flow_with_cached_constants():
    """The torch path with gradients (the generic one) reads the same cached tensors."""
    stft = ks.STFTSplit(n_fft=128, hop_length=32)
    inverse = stft.inverse()
    waves = np.random.default_rng(2).standard_normal((1, 600, 1)).astype("float32")
    assert_exact(inverse(stft(waves)), waves)
    if BACKEND == "torch":
        import torch

        x = torch.tensor(waves, requires_grad=True)
        inverse(stft(x)).sum().backward()
        assert x.grad is not None and torch.isfinite(x.grad).all()
        assert not any(t.requires_grad for t in stft._stft.transform.constants._tensors.values())


def test_a_trace_keeps_no_traced_tensor():
    """Inside a trace the constants stay numpy (embedded once by the trace); nothing traced is cached."""
    stft = ks.STFTSplit(n_fft=96, hop_length=24, dft="matmul")
    inverse = stft.inverse()
    waves = np.random.default_rng(3).standard_normal((2, 500, 2)).astype("float32")
    inputs = keras.Input((500, 2))
    model = keras.Model(inputs, inverse(stft(inputs)))
    assert_exact(model.predict_on_batch(waves), waves)
    for owner in _owners([stft, inverse]):
        for tensor in owner._tensors.values():
            assert not isinstance(tensor, (np.ndarray, keras.KerasTensor))
            assert to_numpy(tensor) is not None  # concrete: readable outside any trace


def test_device_constants_copies_start_empty():
    constants = DeviceConstants()
    x = keras.ops.ones((3,))
    tensor = constants.get(BACKEND, "w", lambda: np.arange(3, dtype="float32"), x)
    assert constants.get(BACKEND, "w", lambda: None, x) is tensor
    assert constants.conversions == 1
    for copied in (copy.deepcopy(constants), pickle.loads(pickle.dumps(constants))):
        assert copied._tensors == {} and copied.conversions == 0
    mel = ks.MelScale(sample_rate=8000, n_fft=64, n_mels=8)
    mel(np.ones((1, 33, 4, 1), "float32"))
    assert copy.deepcopy(mel)._constants._tensors == {}


def test_clear_caches_frees_the_device_tensors_and_they_come_back():
    cache = DeviceConstants()
    x = keras.ops.convert_to_tensor(np.zeros((1, 1000, 1), "float32"))
    cache.get(keras.backend.backend(), "window", lambda: np.hanning(8), like=x)
    stft = ks.STFTSplit(n_fft=64)
    waves = np.random.default_rng(0).standard_normal((1, 1000, 1)).astype("float32")
    before = to_numpy(stft(waves))
    ks.clear_caches()
    assert cache._tensors == {}
    assert_exact(stft(waves), before)  # made again on the next call
    if BACKEND == "torch" or BACKEND == "jax":  # a concrete tensor: the cache holds it again
        cache.get(keras.backend.backend(), "window", lambda: np.hanning(8), like=x)
        assert cache.conversions == 2

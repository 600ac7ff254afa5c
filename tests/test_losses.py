"""keras_spectro.losses and keras_spectro.metrics against numpy/librosa, auraloss (torch) and torchmetrics."""

import json
import os
import subprocess
import sys

import keras
import librosa
import numpy as np
import pytest

import keras_spectro as ks
from keras_spectro import losses, metrics

from conftest import BACKEND, to_numpy

SMALL = dict(n_fft=128, hop_length=32)  # fast settings for the property tests
SMALL_MR = dict(fft_sizes=(128, 256, 64), hop_sizes=(32, 64, 16), win_lengths=(100, 200, 48))


def _pair(rng, batch=2, samples=600, channels=2, noise=0.3):
    """(target, prediction) waves; one shape for most tests (eager JAX compiles each op once per shape)."""
    target = rng.standard_normal((batch, samples, channels)).astype("float32")
    return target, (target + noise * rng.standard_normal(target.shape)).astype("float32")


def _all_losses():
    """One instance of every loss, on (batch, 600, channels) waves (PermutationInvariant: 2 sources)."""
    log_mag = ks.SpectrogramPipeline(
        [
            ks.STFTSplit(n_fft=128, hop_length=32, representation="magnitude"),
            ks.MagnitudeCompression("log", representation="magnitude"),
        ]
    )
    return {
        "stft": losses.STFTLoss(**SMALL, lin_mag_weight=0.5),
        "mel_stft": losses.STFTLoss(**SMALL, n_mels=16, sample_rate=16000),
        "mr_stft": losses.MultiResolutionSTFTLoss(**SMALL_MR),
        "spectrogram": losses.SpectrogramLoss(log_mag),
        "si_sdr": losses.SISDRLoss(),
        "snr": losses.SNRLoss(),
    }


# --- numbers ---------------------------------------------------------------------------
def _numpy_stft_loss(t, p, n_fft, hop, win, sc=1.0, log=1.0, lin=0.0, eps=1e-8, mels=None, rate=None):
    """The formula, per example, with librosa.stft: t, p (batch, samples, channels)."""

    def mags(y):
        s = np.stack(
            [
                librosa.stft(
                    y[:, c].astype("float64"),
                    n_fft=n_fft,
                    hop_length=hop,
                    win_length=win,
                    center=True,
                    pad_mode="reflect",
                )
                for c in range(y.shape[1])
            ]
        )
        m = np.sqrt(np.maximum(np.abs(s) ** 2, eps))
        return np.einsum("mb,cbf->cmf", librosa.filters.mel(sr=rate, n_fft=n_fft, n_mels=mels), m) if mels else m

    out = []
    for ti, pi in zip(t, p):
        y, x = mags(ti), mags(pi)
        out.append(
            sc * np.linalg.norm(y - x) / np.linalg.norm(y)
            + log * np.mean(np.abs(np.log(y) - np.log(x)))
            + lin * np.mean(np.abs(y - x))
        )
    return np.array(out)


def _numpy_sdr(t, p, scale_invariant=True, zero_mean=True, eps=1e-8):
    t, p = t.astype("float64"), p.astype("float64")
    if zero_mean:
        t, p = t - t.mean(1, keepdims=True), p - p.mean(1, keepdims=True)
    if scale_invariant:
        t = t * (np.sum(p * t, 1, keepdims=True) / (np.sum(t * t, 1, keepdims=True) + eps))
    return np.mean(10 * np.log10(np.sum(t * t, 1) / (np.sum((p - t) ** 2, 1) + eps) + eps), axis=-1)


def test_stft_loss_is_the_formula_with_librosa_per_example(rng):
    t, p = _pair(rng)
    for options, ref in (
        (dict(n_fft=256, hop_length=64), dict(n_fft=256, hop=64, win=256)),
        (
            dict(n_fft=256, hop_length=60, win_length=200, lin_mag_weight=0.5, sc_weight=2.0),
            dict(n_fft=256, hop=60, win=200, lin=0.5, sc=2.0),
        ),
        (
            dict(n_fft=256, hop_length=64, n_mels=20, sample_rate=16000),
            dict(n_fft=256, hop=64, win=256, mels=20, rate=16000),
        ),
    ):
        expected = _numpy_stft_loss(t, p, **ref)
        values = to_numpy(losses.STFTLoss(**options, reduction=None)(t, p))
        np.testing.assert_allclose(values, expected, rtol=1e-5)
        first = losses.STFTLoss(**options, data_format="channels_first", reduction=None)(
            t.transpose(0, 2, 1), p.transpose(0, 2, 1)
        )
        np.testing.assert_allclose(to_numpy(first), expected, rtol=1e-5)


def test_multi_resolution_is_the_mean_of_the_stft_losses(rng):
    t, p = _pair(rng)
    parts = [_numpy_stft_loss(t, p, n, h, w) for n, h, w in zip(*SMALL_MR.values())]
    np.testing.assert_allclose(
        to_numpy(losses.MultiResolutionSTFTLoss(**SMALL_MR, reduction=None)(t, p)), np.mean(parts, 0), rtol=1e-5
    )


def test_sdr_losses_and_metrics_are_the_formula(rng):
    t, p = _pair(rng, batch=3, noise=0.5)
    p[1] *= 3.0  # scale matters for SNR, not for SI-SDR
    p[2] += 0.2  # an offset: zero_mean matters
    for zero_mean in (True, False):
        expected = _numpy_sdr(t, p, True, zero_mean)
        np.testing.assert_allclose(
            to_numpy(losses.SISDRLoss(zero_mean=zero_mean, reduction=None)(t, p)), -expected, rtol=1e-5
        )
        metric = metrics.SISDR(zero_mean=zero_mean)
        metric.update_state(t[:2], p[:2])
        metric.update_state(t[2:], p[2:])
        np.testing.assert_allclose(float(metric.result()), expected.mean(), rtol=1e-5)
    expected = _numpy_sdr(t, p, False, False)
    np.testing.assert_allclose(to_numpy(losses.SNRLoss(reduction=None)(t, p)), -expected, rtol=1e-5)
    first = losses.SNRLoss(data_format="channels_first", reduction=None)(t.transpose(0, 2, 1), p.transpose(0, 2, 1))
    np.testing.assert_allclose(to_numpy(first), -expected, rtol=1e-5)
    metric = metrics.SNR()
    metric.update_state(t, p, sample_weight=np.array([1.0, 0.0, 3.0]))
    np.testing.assert_allclose(float(metric.result()), (expected[0] + 3 * expected[2]) / 4, rtol=1e-5)
    metric.reset_state()
    assert float(metric.result()) == 0.0


def test_torchmetrics_si_sdr_vector_is_18_4030_db():
    target = np.array([3.0, -0.5, 2.0, 7.0], "float32").reshape(1, 4, 1)
    preds = np.array([2.5, 0.0, 2.0, 8.0], "float32").reshape(1, 4, 1)
    metric = metrics.SISDR(zero_mean=False)
    metric.update_state(target, preds)
    assert round(float(metric.result()), 4) == 18.4030
    assert round(-float(losses.SISDRLoss(zero_mean=False)(target, preds)), 4) == 18.4030
    if BACKEND == "torch":
        audio = pytest.importorskip("torchmetrics.functional.audio")
        import torch

        reference = float(
            audio.scale_invariant_signal_distortion_ratio(
                torch.tensor(preds.ravel()), torch.tensor(target.ravel()), zero_mean=False
            )
        )
        assert round(reference, 4) == 18.4030
        assert abs(float(metric.result()) - reference) <= 1e-5 * abs(reference)


@pytest.mark.skipif(BACKEND != "torch", reason="auraloss is a PyTorch library")
def test_equal_to_auraloss_for_a_batch_of_one(rng):
    auraloss = pytest.importorskip("auraloss")
    import torch

    t, p = _pair(rng, batch=1, samples=4000)  # longer than the 2048-point FFT's reflect padding
    T, P = (
        torch.tensor(t.transpose(0, 2, 1)),
        torch.tensor(p.transpose(0, 2, 1)),
    )  # auraloss: (batch, channels, samples), (input, target)
    cases = [
        (losses.STFTLoss(), auraloss.freq.STFTLoss()),
        (
            losses.STFTLoss(n_fft=512, hop_length=128, win_length=300, lin_mag_weight=0.5),
            auraloss.freq.STFTLoss(512, 128, 300, w_lin_mag=0.5),
        ),
        (
            losses.STFTLoss(n_mels=40, sample_rate=16000),
            auraloss.freq.STFTLoss(sample_rate=16000, scale="mel", n_bins=40),
        ),
        (losses.MultiResolutionSTFTLoss(), auraloss.freq.MultiResolutionSTFTLoss()),
        (losses.SISDRLoss(), auraloss.time.SISDRLoss()),
        (losses.SISDRLoss(zero_mean=False), auraloss.time.SISDRLoss(zero_mean=False)),
        (losses.SNRLoss(), auraloss.time.SNRLoss(zero_mean=False)),
    ]
    for ours, theirs in cases:
        reference = float(theirs(P, T))
        assert abs(float(ours(t, p)) - reference) <= 1e-5 * abs(reference), (ours.name, float(ours(t, p)), reference)


def test_spectrogram_loss_is_the_mean_difference_of_the_pipeline(rng):
    t, p = _pair(rng)
    mags = [
        np.abs(librosa.stft(w.transpose(0, 2, 1), n_fft=128, hop_length=32, center=True, pad_mode="constant"))
        for w in (t, p)
    ]
    pipeline = ks.SpectrogramPipeline([ks.STFTSplit(n_fft=128, hop_length=32, representation="magnitude")])
    for distance, expected in (("l1", np.abs(mags[0] - mags[1])), ("l2", (mags[0] - mags[1]) ** 2)):
        values = losses.SpectrogramLoss(pipeline, distance=distance, reduction=None)(t, p)
        np.testing.assert_allclose(to_numpy(values), expected.mean(axis=(1, 2, 3)), rtol=1e-5)


# --- silence (finite values and gradients of every loss: tests/test_loss_contract.py) -----
def test_silence_is_80_db_that_is_minus_10_log10_eps(rng):
    t, p = _pair(rng, batch=1)
    zeros = np.zeros_like(t)
    assert float(losses.SISDRLoss()(zeros, zeros)) == pytest.approx(80.0)
    assert float(losses.SNRLoss()(zeros, p)) == pytest.approx(80.0)
    assert float(metrics.SISDR()(zeros, zeros)) == pytest.approx(-80.0)


def test_computes_in_float32_under_mixed_precision(rng):
    keras.config.set_dtype_policy("mixed_float16")
    t, p = _pair(rng)
    for name, loss in _all_losses().items():
        value = loss(t, keras.ops.cast(p, "float16"))
        assert keras.backend.standardize_dtype(value.dtype) == "float32", name
        np.testing.assert_allclose(
            float(value), float(loss(t, p.astype("float16").astype("float32"))), rtol=1e-5, err_msg=name
        )
    inputs = keras.Input((600, 2))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    assert keras.backend.standardize_dtype(model.output.dtype) == "float16"
    model.compile(optimizer="adam", loss=losses.MultiResolutionSTFTLoss(**SMALL_MR), metrics=[metrics.SISDR()])
    history = model.fit(t, p, epochs=2, batch_size=2, verbose=0).history
    assert all(np.isfinite(v).all() for v in history.values())


def _model_with_every_loss():
    """One model, one output per loss (and a 2-source output for PermutationInvariant), SISDR and SNR on each."""
    inputs = keras.Input((600, 2))
    named = {**_all_losses(), "pit": losses.PermutationInvariant(losses.SISDRLoss())}
    outputs = {name: keras.layers.Dense(2, name=name)(inputs) for name in named}
    outputs["pit"] = keras.layers.Reshape((2, 600, 2), name="pit")(keras.layers.Dense(4)(inputs))
    model = keras.Model(inputs, outputs)
    return model, named


def _every_target(t):
    return {name: np.stack([t, t[..., ::-1]], 1) if name == "pit" else t for name in [*_all_losses(), "pit"]}


@pytest.mark.skipif(BACKEND == "torch", reason="torch.compile is slow to start; torch runs eagerly")
def test_fit_under_jit_compile(rng):
    t, p = _pair(rng, batch=4)
    model, named = _model_with_every_loss()
    model.compile(
        optimizer="adam",
        loss=named,
        metrics={name: [metrics.SISDR(), metrics.SNR()] for name in named if name != "pit"},
        jit_compile=True,
    )
    history = model.fit(p, _every_target(t), epochs=1, batch_size=2, verbose=0).history
    assert len(history) == 1 + len(named) + 2 * (len(named) - 1) and all(np.isfinite(v).all() for v in history.values())


def test_permutation_invariant_takes_the_best_ordering(rng):
    for sources, inner in (
        (2, losses.SISDRLoss()),
        (3, losses.STFTLoss(**SMALL)),
        (3, keras.losses.MeanSquaredError()),
    ):
        t = rng.standard_normal((2, sources, 600, 2)).astype("float32")
        p = (t + 0.2 * rng.standard_normal(t.shape)).astype("float32")
        pit = losses.PermutationInvariant(inner, reduction=None)
        straight = to_numpy(pit(t, p))
        swapped = to_numpy(pit(t, p[:, ::-1]))  # a different ordering per source count: reversed
        np.testing.assert_allclose(swapped, straight, rtol=1e-5)
        flat = lambda y: y.reshape(-1, *y.shape[2:])  # noqa: E731
        direct = to_numpy(
            keras.ops.mean(keras.ops.reshape(inner.call(flat(t), flat(p)), (2, sources, -1)), axis=(1, 2))
        )
        np.testing.assert_allclose(straight, direct, rtol=1e-5)  # the matching ordering is the best one here
    with pytest.raises(ValueError, match="1 to 6 sources"):
        losses.PermutationInvariant(losses.SISDRLoss())(np.zeros((1, 7, 100, 1)), np.zeros((1, 7, 100, 1)))


def test_bad_arguments_are_refused():  # the config round trip of each: tests/test_loss_contract.py
    for bad, match in (
        (lambda: losses.STFTLoss(n_mels=40), "sample_rate"),
        (lambda: losses.STFTLoss(eps=0), "eps"),
        (lambda: losses.STFTLoss(n_fft=256, win_length=512), "win_length"),
        (
            lambda: losses.MultiResolutionSTFTLoss(fft_sizes=(512, 256), hop_sizes=(128,), win_lengths=(512, 256)),
            "one entry per resolution",
        ),
        (lambda: losses.SpectrogramLoss(ks.STFTSplit(), distance="l3"), "distance"),
        (lambda: losses.PermutationInvariant("mse"), "Loss instance"),
    ):
        with pytest.raises(ValueError, match=match):
            bad()


_LOADER = """
import json, sys, keras, numpy as np
import keras_spectro
x, t = np.load(sys.argv[1]), np.load(sys.argv[2])
model = keras.models.load_model(sys.argv[3])
targets = {name: np.stack([t, t[..., ::-1]], 1) if name == "pit" else t for name in model.output_names}
print(json.dumps(model.evaluate(x, targets, verbose=0, return_dict=True)))
"""


def test_a_compiled_model_saves_loads_and_evaluates_with_only_import_keras_spectro(rng, tmp_path):
    t, p = _pair(rng, batch=4)
    model, named = _model_with_every_loss()
    model.compile(
        optimizer="adam",
        loss=named,
        metrics={name: [metrics.SISDR(), metrics.SNR()] for name in named if name != "pit"},
    )
    targets = _every_target(t)
    model.fit(p, targets, epochs=1, batch_size=2, verbose=0)
    expected = model.evaluate(p, targets, verbose=0, return_dict=True)
    model.save(tmp_path / "m.keras")
    np.save(tmp_path / "x.npy", p)
    np.save(tmp_path / "y.npy", t)
    run = subprocess.run(
        [sys.executable, "-c", _LOADER, str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), str(tmp_path / "m.keras")],
        env={**os.environ, "KERAS_BACKEND": BACKEND, "TF_CPP_MIN_LOG_LEVEL": "3"}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert set(got) == set(expected) and len(got) == 1 + len(named) + 2 * (len(named) - 1)
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-4, err_msg=key)


def test_the_training_page_example_runs(tmp_path, monkeypatch):
    text = (__import__("pathlib").Path(__file__).resolve().parents[1] / "docs" / "training.md").read_text()
    start = text.index("```python\n", text.index("# Training")) + len("```python\n")
    monkeypatch.chdir(tmp_path)
    exec(text[start : text.index("\n```", start)], {})
    assert (tmp_path / "masked.keras").exists()

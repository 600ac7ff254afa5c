"""The Streamer's step model (dft="matmul") exported to ONNX and TFLite, run block by block by their runtimes.

Run by the tox env `heavy` (it installs the `export` extra), once per backend.
"""

import keras
import numpy as np
import pytest

import keras_spectro as ks
from keras_spectro.streaming import Streamer

from conftest import BACKEND

onnxruntime = pytest.importorskip("onnxruntime")
tf = pytest.importorskip("tensorflow")

BLOCK = 32


@pytest.fixture(scope="module")
def streamer():
    rng = np.random.default_rng(0)
    pipeline = ks.SpectrogramPipeline(
        [
            ks.STFTSplit(n_fft=64, hop_length=16, representation="mag_phase", dft="matmul"),
            ks.SpectrogramScaler("standard", axis="channels"),
        ]
    )
    network = keras.Sequential([keras.Input((33, None, 4)), keras.layers.Conv2D(4, 3, padding="same")])
    domain = ks.SpectrogramDomain(pipeline, network)
    domain.adapt(rng.standard_normal((2, 500, 2)).astype("float32"))
    return Streamer(keras.Sequential([keras.Input((None, 2)), domain]))


@pytest.fixture(scope="module")
def signal():
    return np.random.default_rng(1).standard_normal((960, 2)).astype("float32")


@pytest.fixture(scope="module")
def expected(streamer, signal):
    streamer.reset()
    out = streamer.process(signal)
    streamer.reset()
    return out


def _close(actual, expected, warmup):
    assert actual.shape == expected.shape
    error = np.abs(actual[warmup:] - expected[warmup:]).max() / np.abs(expected).max()
    assert error <= 1e-4, f"max error {error:.3g} of the peak"


@pytest.mark.skipif(
    BACKEND == "jax",
    reason="jax2onnx fails on the step model's concatenations (measured with jax 0.10); torch and TensorFlow export it",
)
def test_onnx(streamer, signal, expected, tmp_path):
    step = streamer.step_model(BLOCK)
    step.export(str(tmp_path / "step.onnx"), format="onnx", verbose=False)
    session = onnxruntime.InferenceSession(str(tmp_path / "step.onnx"))
    names = [i.name for i in session.get_inputs()]
    assert names == list(streamer.step_shapes(BLOCK))  # inputs that the runtime follows, in order

    def runner(arrays):
        return session.run(None, dict(zip(names, arrays)))

    _close(streamer.run_step_model(step, signal, BLOCK, runner), expected, streamer.step_warmup)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="TFLite conversion from a SavedModel export")
def test_tflite_builtins(streamer, signal, expected, tmp_path):
    step = streamer.step_model(BLOCK)
    step.export(str(tmp_path / "saved"), format="tf_saved_model", verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "saved"))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    interpreter = tf.lite.Interpreter(model_content=converter.convert())
    run = interpreter.get_signature_runner()
    names = list(streamer.step_shapes(BLOCK))

    def runner(arrays):
        outputs = run(**dict(zip(names, arrays)))
        return [outputs[f"output_{i}"] for i in range(len(outputs))]

    _close(streamer.run_step_model(step, signal, BLOCK, runner), expected, streamer.step_warmup)

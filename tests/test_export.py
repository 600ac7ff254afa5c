"""Export of a SpectrogramDomain model with dft="matmul": SavedModel, TFLite and ONNX, run by their runtimes.

Run by the tox env `heavy` (it installs the `export` extra), once per backend.
"""

import keras
import numpy as np
import pytest

import keras_spectro as ks

from conftest import BACKEND, to_numpy

onnxruntime = pytest.importorskip("onnxruntime")
tf = pytest.importorskip("tensorflow")

# (batch, samples, channels) of the two inputs each exported file must follow
SHAPES = [(1, 3000, 2), (2, 1234, 2)]


@pytest.fixture(scope="module", params=[1, 2], ids=["one_source", "two_sources"])
def model(request):
    rng = np.random.default_rng(0)
    pipeline = ks.SpectrogramPipeline(
        [ks.STFTSplit(n_fft=256, hop_length=64, dft="matmul"), ks.SpectrogramScaler("standard", axis="channels")]
    )
    sources = request.param  # 2: a separation model, (batch, samples, 2) -> (batch, 2, samples, 2)
    network = keras.Sequential([keras.Input((129, None, 4)), keras.layers.Conv2D(4 * sources, 3, padding="same")])
    domain = ks.SpectrogramDomain(pipeline, network, sources=sources, mixture_consistency=sources > 1)
    domain.adapt(rng.uniform(-1, 1, (4, 2000, 2)).astype("float32"))
    model = keras.Sequential([keras.Input((None, 2)), domain])
    model(np.zeros((1, 100, 2), "float32"))  # torch exports only models that ran
    return model


@pytest.fixture(scope="module")
def inputs():
    rng = np.random.default_rng(1)
    return [rng.uniform(-1, 1, shape).astype("float32") for shape in SHAPES]


def _close(actual, expected):
    expected = to_numpy(expected)
    assert actual.shape == expected.shape
    error = np.abs(actual - expected).max() / np.abs(expected).max()
    assert error <= 1e-4, f"max error {error:.3g} of the peak"


def _signature(shape):
    """A fixed input signature where a format cannot keep the length dynamic; None keeps it dynamic."""
    return None if shape is None else [keras.InputSpec(shape=shape, dtype="float32")]


# dynamic: both SHAPES through one file; else only the first, with its shape fixed at export
SAVED_MODEL = {"tensorflow": "dynamic", "jax": "dynamic"}
TFLITE = {"tensorflow": "dynamic", "jax": "fixed"}
ONNX = {"tensorflow": "dynamic", "torch": "dynamic", "jax": "fixed"}


def _cases(how, x):
    return x if how == "dynamic" else x[:1]


@pytest.mark.skipif(BACKEND not in SAVED_MODEL, reason="Keras exports SavedModels from TensorFlow and JAX only")
def test_saved_model(model, inputs, tmp_path):
    model.export(tmp_path / "saved", format="tf_saved_model")
    served = tf.saved_model.load(str(tmp_path / "saved"))
    for x in inputs:
        _close(served.serve(x).numpy(), model(x))


@pytest.mark.skipif(BACKEND not in TFLITE, reason="TFLite converts SavedModels, which torch cannot export")
def test_tflite_with_builtin_ops_only(model, inputs, tmp_path):
    how = TFLITE[BACKEND]
    model.export(
        tmp_path / "saved", format="tf_saved_model", input_signature=_signature(None if how == "dynamic" else SHAPES[0])
    )
    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "saved"))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    interpreter = tf.lite.Interpreter(model_content=converter.convert())
    for x in _cases(how, inputs):
        entry = interpreter.get_input_details()[0]
        interpreter.resize_tensor_input(entry["index"], x.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(entry["index"], x)
        interpreter.invoke()
        _close(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]), model(x))


@pytest.mark.skipif(BACKEND not in ONNX, reason="no ONNX export for this backend")
def test_onnx(model, inputs, tmp_path):
    how = ONNX[BACKEND]
    path = tmp_path / "model.onnx"
    model.export(path, format="onnx", input_signature=_signature(None if how == "dynamic" else SHAPES[0]))
    session = onnxruntime.InferenceSession(str(path))
    (entry,) = session.get_inputs()  # a file that folded the graph into a constant would have none
    for x in _cases(how, inputs):
        _close(session.run(None, {entry.name: x})[0], model(x))
    if how == "dynamic":
        assert session.run(None, {entry.name: inputs[1]})[0].shape == tuple(model(inputs[1]).shape)
    other = np.zeros(SHAPES[0], "float32")  # the file follows its input: silence in, silence out
    assert np.abs(session.run(None, {entry.name: other})[0]).max() < 1e-3


def test_matmul_keeps_fft_numbers_in_the_model(model, inputs):
    fft = keras.models.clone_model(model, clone_function=_with_fft)
    fft.set_weights(model.get_weights())
    for x in inputs:
        _close(to_numpy(model(x)), fft(x))


def _with_fft(layer):
    config = layer.get_config()
    if isinstance(layer, ks.SpectrogramDomain):
        stft = config["pipeline"]["config"]["layers"][0]["config"]
        stft["dft"] = "fft"
    return layer.__class__.from_config(config)


@pytest.mark.skipif(BACKEND != "torch", reason="only torch's ONNX export lets a layer see that it is exporting")
def test_onnx_export_of_the_fft_is_refused_without_a_file(model, tmp_path):
    fft = keras.models.clone_model(model, clone_function=_with_fft)
    fft.set_weights(model.get_weights())
    fft(np.zeros((1, 100, 2), "float32"))
    with pytest.raises(Exception, match="dft='matmul'"):
        fft.export(tmp_path / "fft.onnx", format="onnx")
    assert not (tmp_path / "fft.onnx").exists()


@pytest.mark.skipif(BACKEND != "jax", reason="the JAX export path (jax2onnx) with a symbolic batch")
def test_onnx_from_jax_takes_any_batch_at_a_fixed_length(model, tmp_path):
    if model.layers[0].sources > 1:
        pytest.skip("a K-source domain folds the sources into the batch axis: jax2onnx needs a fixed batch there")
    path = tmp_path / "batch.onnx"
    model.export(path, format="onnx", input_signature=_signature((None,) + SHAPES[0][1:]))
    session = onnxruntime.InferenceSession(str(path))
    (entry,) = session.get_inputs()
    for batch in (1, 3):
        x = np.random.default_rng(batch).uniform(-1, 1, (batch,) + SHAPES[0][1:]).astype("float32")
        _close(session.run(None, {entry.name: x})[0], model(x))


@pytest.mark.skipif(BACKEND != "jax", reason="JAX's export traces the length as a symbol")
def test_jax_export_of_a_length_that_may_need_padding_asks_for_a_fixed_length(tmp_path):
    domain = ks.SpectrogramDomain([ks.STFTSplit(n_fft=256, hop_length=128, dft="matmul")])  # 50 %: some lengths padded
    model = keras.Sequential([keras.Input((None, 1)), domain])
    with pytest.raises(ValueError, match="export with a fixed length"):
        model.export(tmp_path / "dynamic", format="tf_saved_model")
    model.export(tmp_path / "fixed", format="tf_saved_model", input_signature=_signature((1, 1000, 1)))
    x = np.random.default_rng(0).uniform(-1, 1, (1, 1000, 1)).astype("float32")
    _close(tf.saved_model.load(str(tmp_path / "fixed")).serve(x).numpy(), x)

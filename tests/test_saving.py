import os
import pathlib
import subprocess
import sys
import zipfile

import keras
import numpy as np
import pytest
from test_contract import LAYERS, close, example, model_of

import keras_spectro as ks
from keras_spectro.layers.base import FORMAT_VERSION

from conftest import BACKEND, to_numpy

BACKENDS = ["tensorflow", "torch", "jax"]


def _chained_model(waves):
    """Layers chained in a pipeline, its inverse after a Dense of identity weights: the waves back exactly."""
    to_images = ks.SpectrogramPipeline(
        [
            ks.AudioPadding(2048, "left"),
            ks.STFTSplit(n_fft=256, hop_length=64, win_length=200, representation="mag_phase"),
            ks.MagnitudePhaseScaling(magnitude_scale=4.0),
            ks.SpectrogramScaler("standard", axis="channels"),
            ks.ChannelIndexer(ks.magnitude_phase_order(2)),
            ks.SpectrogramScaler("minmax", feature_range=(0, 1)),
        ]
    )
    to_audio = to_images.inverse()
    to_images.adapt(waves, batch_size=2)
    inputs = keras.Input(waves.shape[1:])
    images = to_images(inputs)
    images = keras.layers.Dense(4, kernel_initializer="identity", name="model_in_between")(images)
    return keras.Model(inputs, to_audio(images))


def _save(folder, name, model, inputs):
    model.save(folder / f"{name}.keras")
    np.savez(folder / f"{name}.inputs.npz", *(inputs if isinstance(inputs, list) else [inputs]))
    return to_numpy(model.predict(inputs, verbose=0))


def test_every_layer_saves_and_loads_on_every_backend(tmp_path, rng):
    """One model per public layer (tests/test_contract.py EXAMPLES) and the chained model, saved under
    this backend, loaded under each backend in one subprocess: the same numbers."""
    expected = {}
    for name in LAYERS:
        make, _, x, shape, _ = example(name)
        expected[name] = _save(tmp_path, name, model_of(make(), shape), x)
    waves = rng.uniform(-0.5, 0.5, (5, 2000, 2)).astype("float32")
    expected["chain"] = _save(tmp_path, "chain", _chained_model(waves), waves)
    np.testing.assert_allclose(expected["chain"][:, 48:], waves, atol=1e-5)  # the round trip is exact
    for backend in BACKENDS:
        run = subprocess.run(
            [sys.executable, str(pathlib.Path(__file__).parent / "saving_worker.py"), str(tmp_path)],
            env={**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.returncode == 0, f"loading under {backend} failed:\n{run.stderr[-3000:]}"
        errors = {path.stem: path.read_text()[-1500:] for path in tmp_path.glob(f"*.{backend}.error")}
        assert not errors, f"saved under {BACKEND}, loading under {backend} failed: {errors}"
        for name, values in expected.items():
            close(
                np.load(tmp_path / f"{name}.{backend}.npy"),
                values,
                name,
                f"saved under {BACKEND}, loaded under {backend}",
            )


def test_inverse_keeps_adapted_state_after_loading(tmp_path, rng):
    images = rng.standard_normal((6, 9, 5, 2)).astype("float32") * 3 + 1
    scaler = ks.SpectrogramScaler("standard")
    model = keras.Sequential([keras.Input((9, 5, 2)), scaler.inverse()])  # only the inverse is saved
    scaler.adapt(images)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(to_numpy(loaded(images)), images * images.std() + images.mean(), rtol=1e-5)


def test_a_saved_pipeline_refuses_the_wrong_channel_count(tmp_path, rng):
    waves = rng.uniform(-0.5, 0.5, (5, 2000, 2)).astype("float32")
    _chained_model(waves).save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    with pytest.raises(ValueError, match="stft_split.* expected axis 2 of input shape to have value 2"):
        loaded.predict(waves[..., :1], verbose=0)
    stft = ks.STFTSplit(n_fft=256)
    stft(waves)
    with pytest.raises(ValueError, match="expected axis 2 of input shape to have value 2"):
        stft(np.zeros((1, 2000, 3), "float32"))


def test_config_round_trip_of_each_layer():
    layers = [
        ks.AudioPadding(100, "center", data_format="channels_first"),
        ks.STFTSplit(n_fft=512, window=np.hamming(400).tolist(), center=False, representation="mag_phase"),
        ks.InverseSTFTSplit(n_fft=512, hop_length=100, pad_mode="reflect", length=999),
        ks.ChannelIndexer([1, 0]),
        ks.SpectrogramScaler("standard", axis=(1, 3), target_std=0.5),
        ks.MagnitudePhaseScaling(2.0, 3.0, 1.0),
    ]
    for layer in layers:
        config = layer.get_config()
        again = type(layer).from_config(config)
        assert again.get_config() == config


def test_files_from_a_newer_keras_spectro_are_refused(tmp_path):
    config = ks.STFTSplit(n_fft=256).get_config()
    with pytest.raises(ValueError, match="newer keras_spectro"):
        ks.STFTSplit.from_config({**config, "format_version": 99})
    keras.Sequential([keras.Input((1000, 1)), ks.STFTSplit(n_fft=256)]).save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as old, zipfile.ZipFile(tmp_path / "newer.keras", "w") as new:
        for item in old.infolist():
            data = old.read(item)
            if item.filename == "config.json":
                data = data.replace(f'"format_version": {FORMAT_VERSION}'.encode(), b'"format_version": 99')
                assert b'"format_version": 99' in data
            new.writestr(item, data)
    with pytest.raises(Exception, match="saved by a newer keras_spectro"):
        keras.models.load_model(tmp_path / "newer.keras")


def test_nothing_unpickles_or_runs_code_from_a_file():
    source = "".join(path.read_text() for path in pathlib.Path(ks.__file__).parent.rglob("*.py"))
    for risky in ("pickle", "marshal", "eval(", "exec(", "safe_mode=False", "enable_unsafe_deserialization"):
        assert risky not in source

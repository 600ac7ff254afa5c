"""Beyond one machine: adapt sharded and a corpus processed on Ray Data, training on two devices. Run by `tox -e heavy`.

Skipped where Ray is not installed (the default tox envs). The Ray tests run under the
current KERAS_BACKEND; the training tests start their own processes (JAX and TensorFlow).
"""

import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
import soundfile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ray = pytest.importorskip("ray")

from distributed_worker import DiesOnce, RMSGain  # noqa: E402

import keras_spectro as ks  # noqa: E402
from keras_spectro import distributed  # noqa: E402

from conftest import DATA, to_numpy  # noqa: E402

HERE = pathlib.Path(__file__).parent


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray cluster whose workers import this folder's modules (RMSGain) and use this backend."""
    path = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))
    env = {"PYTHONPATH": path, "KERAS_BACKEND": keras.backend.backend(), "TF_CPP_MIN_LOG_LEVEL": "3"}
    # each worker imports distributed_worker, whose layers (DiesOnce) are then registered for load_model
    setup = {"env_vars": env, "worker_process_setup_hook": "distributed_worker.setup"}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env=setup)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray
    ray.shutdown()


def waves(count=24, samples=3000, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((count, samples, 2)) * rng.uniform(0.1, 2.0, (count, 1, 2))).astype("float32")


def statistics(pipeline):
    return [to_numpy(w) for w in pipeline.weights]


def assert_same_statistics(sharded, local):
    for a, b in zip(statistics(sharded), statistics(local), strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-6, atol=2e-6 * np.abs(b).max())


def two_scalers():
    return ks.SpectrogramPipeline(
        [
            ks.STFTSplit(n_fft=128, hop_length=32),
            ks.SpectrogramScaler("standard", axis="channels"),
            ks.SpectrogramScaler("minmax"),
        ]
    )


@pytest.fixture(scope="module")
def adapted_locally():
    pipeline = two_scalers()
    pipeline.adapt(waves(), batch_size=8)
    return pipeline


@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
@given(blocks=st.integers(1, 9), batch_size=st.sampled_from([1, 5, 32]))
def test_sharded_adapt_equals_local_adapt_whatever_the_blocks(local_ray, adapted_locally, blocks, batch_size):
    """Two adaptable layers, the second adapted on the first's output."""
    x, local, sharded = waves(), adapted_locally, two_scalers()
    dataset = ray.data.from_items([{"data": w} for w in x], override_num_blocks=blocks)
    distributed.adapt(sharded, dataset, batch_size=batch_size)
    assert_same_statistics(sharded, local)
    np.testing.assert_allclose(to_numpy(sharded(x)), to_numpy(local(x)), atol=1e-5)


def test_a_users_own_layer_adapts_sharded_before_a_scaler(local_ray):
    x = waves(seed=1)
    make = lambda: ks.SpectrogramPipeline([RMSGain(), ks.STFTSplit(n_fft=64), ks.SpectrogramScaler("standard")])  # noqa: E731
    local, sharded = make(), make()
    local.adapt(x, batch_size=7)
    distributed.adapt(
        ks.SpectrogramDomain(sharded),
        ray.data.from_items([{"wave": w} for w in x], override_num_blocks=3),
        column="wave",
    )
    np.testing.assert_allclose(
        to_numpy(sharded.layers[0].rms), np.sqrt(np.mean(np.square(x, dtype="float64"))), rtol=1e-6
    )
    assert_same_statistics(sharded, local)


def test_rows_of_different_lengths_are_run_one_at_a_time(local_ray):
    x = [w[: 1000 + 300 * i] for i, w in enumerate(waves(count=6, seed=2))]
    local, sharded = ks.SpectrogramScaler("minmax", axis=-1), ks.SpectrogramScaler("minmax", axis=-1)
    local.adapt(w[None] for w in x)
    distributed.adapt(sharded, ray.data.from_items([{"data": w} for w in x], override_num_blocks=2), batch_size=4)
    assert_same_statistics(sharded, local)
    assert to_numpy(sharded.count) == sum(len(w) for w in x)


def test_audio_dataset_reads_files_on_the_workers(local_ray):
    files = sorted(DATA.glob("*.wav"))
    dataset = distributed.audio_dataset(files, channels=2, length=8192)
    assert dataset.count() == len(files)
    local, sharded = two_scalers(), two_scalers()
    local.adapt(ks.audio.AudioFileDataset(files, batch_size=2, channels=2, length=8192))
    distributed.adapt(sharded, dataset, batch_size=3)
    assert_same_statistics(sharded, local)


class OneProcessOnly(ks.InvertibleLayer):
    def update_state(self, batch):
        pass


def test_clear_errors(local_ray):
    dataset = ray.data.from_items([{"data": w} for w in waves(count=2)])
    with pytest.raises(TypeError, match="only in one process"):
        distributed.adapt(ks.SpectrogramPipeline([ks.SpectrogramScaler(), OneProcessOnly()]), dataset)
    with pytest.raises(TypeError, match="learns nothing"):
        distributed.adapt(ks.STFTSplit(), dataset)
    with pytest.raises(Exception, match="no column 'audio'"):
        distributed.adapt(ks.SpectrogramScaler(), dataset, column="audio")
    with pytest.raises(ValueError, match="no rows"):
        distributed.adapt(ks.SpectrogramScaler(), dataset.limit(0))


def test_the_ray_example_adapts_over_files_and_trains(local_ray, tmp_path):
    spec = importlib.util.spec_from_file_location("ray_adapt", HERE.parent / "examples" / "ray_adapt.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    difference, loss = example.main(tmp_path, quick=True)
    assert difference <= 1e-5 and np.isfinite(loss)
    assert (tmp_path / "ray_adapt.keras").is_file()


def _corpus(root):
    rng = np.random.default_rng(5)
    for i, samples in enumerate([3000, 20001, 5000, 7000, 3100, 9001]):
        path = root / ("sub" if i % 2 else "") / f"f{i}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(path, 0.2 * rng.uniform(-1, 1, (samples, 2)), 16000, subtype="FLOAT")
    (root / "bad.wav").write_text("not audio")


def test_process_files_on_ray_equals_the_local_run(local_ray, tmp_path):
    """Same rows, same files; an actor that dies is restarted and its task retried."""
    _corpus(tmp_path / "in")
    domain = ks.SpectrogramDomain([ks.STFTSplit(n_fft=256)], keras.layers.Rescaling(0.5))
    local = keras.Sequential([keras.Input((None, 2)), domain])
    local.save(tmp_path / "model.keras")
    options = dict(batch_size=2, chunk_seconds=0.5, overlap_seconds=0.1, verbose=0)
    expected = ks.audio.process_files(local, tmp_path / "in", tmp_path / "local", **options)
    dying = keras.Sequential([keras.Input((None, 2)), DiesOnce(str(tmp_path / "died"), os.getpid()), domain])
    dying.save(tmp_path / "dying.keras")
    rows = distributed.process_files(
        tmp_path / "dying.keras", tmp_path / "in", tmp_path / "ray", num_workers=2, report=tmp_path / "r.csv", **options
    )
    assert (tmp_path / "died").exists()  # a worker died, and its task was done again
    assert [row["status"] for row in rows] == ["failed"] + ["done"] * 6
    for mine, theirs in zip(rows, expected, strict=True):
        assert mine == {
            **theirs,
            "targets": [t.replace(f"{tmp_path}/local", f"{tmp_path}/ray") for t in theirs["targets"]],
        }
        for path, reference in zip(mine["targets"], theirs["targets"]) if mine["status"] == "done" else ():
            np.testing.assert_allclose(soundfile.read(path)[0], soundfile.read(reference)[0], atol=1e-6)
    assert (tmp_path / "r.csv").read_text().count("\n") == 8
    again = distributed.process_files(tmp_path / "model.keras", tmp_path / "in", tmp_path / "ray", **options)
    assert [row["status"] for row in again] == ["failed"] + ["skipped"] * 6


def test_apply_ray_on_the_command_line(local_ray, tmp_path, capsys):
    from keras_spectro.cli import main

    _corpus(tmp_path / "in")
    keras.Sequential([keras.Input((None, 2)), ks.SpectrogramDomain([ks.STFTSplit(n_fft=256)])]).save(
        tmp_path / "m.keras"
    )
    args = ["apply", str(tmp_path / "m.keras"), str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--ray"]
    assert main([*args, "--overlap-seconds", "0.1"]) == 1
    captured = capsys.readouterr()
    assert captured.out.endswith("6 done, 0 skipped, 1 failed\n") and "failed: " in captured.err, captured
    assert len(list((tmp_path / "out").rglob("*.wav"))) == 6


@pytest.mark.parametrize("backend", ["jax", "tensorflow"])
def test_a_spectrogram_domain_trains_on_two_devices(backend):
    """JAX keras.distribution.DataParallel on 2 host devices; TF MirroredStrategy on 2 logical CPUs."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, str(HERE / "distributed_worker.py"), backend],
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    assert len(result["losses"]) == 2 and np.all(np.isfinite(result["losses"]))
    assert result["statistics_kept"]

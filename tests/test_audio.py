import shutil
import sys

import keras
import numpy as np
import pytest
import soundfile

from conftest import DATA, assert_exact, to_numpy
import keras_spectro as ks
from keras_spectro.audio import AudioFileDataset, TorchBatches, load_audio, to_tf_dataset


def test_load_audio_reads_the_test_files():
    stereo = load_audio(DATA / "voice_stereo_16bit_44k.wav", sample_rate=44100)
    reference, _ = soundfile.read(DATA / "voice_stereo_16bit_44k.wav", dtype="float32")
    assert stereo.dtype == np.float32 and stereo.shape == reference.shape
    np.testing.assert_array_equal(stereo, reference)
    deep = load_audio(DATA / "voice_stereo_24bit_44k.wav", channels=2)
    assert deep.shape[1] == 2 and np.abs(deep).max() <= 1
    mono = load_audio(DATA / "voice_mono_22k.wav", sample_rate=22050, channels=2)
    np.testing.assert_array_equal(mono[:, 0], mono[:, 1])


@pytest.mark.parametrize("subtype, fmt", [("PCM_24", "WAV"), ("FLOAT", "WAV"), ("PCM_16", "FLAC"), ("VORBIS", "OGG")])
def test_load_audio_reads_other_formats(tmp_path, subtype, fmt, rng):
    wave = rng.uniform(-0.5, 0.5, (4000, 2)).astype("float32")
    path = tmp_path / f"x.{fmt.lower()}"
    soundfile.write(path, wave, 16000, subtype=subtype, format=fmt)
    loaded = load_audio(path, sample_rate=16000)
    assert loaded.shape == wave.shape
    if fmt != "OGG":  # lossy
        np.testing.assert_allclose(loaded, wave, atol=1e-4)


@pytest.mark.parametrize("mode, expected", [("right", [1, 2, 3, 0]), ("left", [0, 1, 2, 3]), ("center", [1, 2, 3, 0])])
def test_load_audio_pads_like_audio_padding(tmp_path, mode, expected):
    soundfile.write(tmp_path / "x.wav", np.array([0.25, 0.5, 0.75]), 8000, subtype="FLOAT")
    wave = load_audio(tmp_path / "x.wav", length=4, mode=mode)
    np.testing.assert_allclose(wave[:, 0], np.array(expected) / 4)
    layer = to_numpy(ks.AudioPadding(4, mode)(np.array([[[0.25], [0.5], [0.75]]], "float32")))
    np.testing.assert_allclose(layer[0], wave)


def test_load_audio_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.wav: no such"):
        load_audio(tmp_path / "missing.wav")
    (tmp_path / "text.wav").write_text("this is not audio")
    with pytest.raises(ValueError, match="text.wav: not an audio file"):
        load_audio(tmp_path / "text.wav")
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(ValueError, match="empty.wav"):
        load_audio(tmp_path / "empty.wav")
    soundfile.write(tmp_path / "nothing.wav", np.zeros((0, 1)), 8000)
    with pytest.raises(ValueError, match="nothing.wav: the file holds no samples"):
        load_audio(tmp_path / "nothing.wav")
    truncated = tmp_path / "truncated.wav"
    truncated.write_bytes((DATA / "voice_mono_22k.wav").read_bytes()[:30])
    with pytest.raises(ValueError, match="truncated.wav"):
        load_audio(truncated)
    with pytest.raises(ValueError, match="voice_mono_22k.wav: sample rate 22050 Hz, expected 44100"):
        load_audio(DATA / "voice_mono_22k.wav", sample_rate=44100)
    with pytest.raises(ValueError, match="voice_stereo_16bit_44k.wav: 2 channels, expected 1"):
        load_audio(DATA / "voice_stereo_16bit_44k.wav", channels=1)


@pytest.fixture
def pairs(tmp_path, rng):
    """Five noisy/clean stereo pairs of 3000 samples (the last ones shorter)."""
    noisy, clean = [], []
    for i in range(5):
        wave = rng.uniform(-0.5, 0.5, (3000 - 100 * i, 2)).astype("float32")
        for folder, signal, names in (("clean", wave, clean), ("noisy", wave + 0.01 * rng.standard_normal(wave.shape), noisy)):
            (tmp_path / folder).mkdir(exist_ok=True)
            soundfile.write(tmp_path / folder / f"{i}.wav", signal, 8000, subtype="FLOAT")
            names.append(tmp_path / folder / f"{i}.wav")
    return noisy, clean


def test_dataset_batches_pairs_through_the_pipeline(pairs):
    noisy, clean = pairs
    stft = ks.STFTSplit(n_fft=256)
    data = AudioFileDataset(noisy, targets=clean, batch_size=2, length=3000, sample_rate=8000, pipeline=stft)
    assert len(data) == 3
    x, y = data[0]
    assert x.shape == y.shape == (2, 129, 1 + 3000 // 64, 4)
    np.testing.assert_allclose(y[1], to_numpy(stft(load_audio(clean[1], length=3000)[None]))[0], atol=1e-6)
    assert data[2][0].shape[0] == 1  # the last, partial batch
    with pytest.raises(IndexError):
        data[3]


def test_dataset_shuffles_each_epoch_and_trains(pairs):
    noisy, clean = pairs
    data = AudioFileDataset(noisy, targets=clean, batch_size=5, length=3000, shuffle=True, seed=0)
    first = data[0][1]
    data.on_epoch_end()
    second = data[0][1]
    assert not np.array_equal(first, second)
    assert sorted(map(float, first[:, 0, 0])) == sorted(map(float, second[:, 0, 0]))
    model = keras.Sequential([keras.Input((3000, 2)), keras.layers.Dense(2)])
    model.compile("adam", "mse")
    history = model.fit(AudioFileDataset(noisy, targets=clean, batch_size=2, length=3000, shuffle=True, workers=2), epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2


def test_dataset_in_worker_processes(pairs):
    noisy, clean = pairs
    data = AudioFileDataset(noisy, targets=clean, batch_size=2, length=3000, workers=2, use_multiprocessing=True)
    model = keras.Sequential([keras.Input((3000, 2)), keras.layers.Dense(2)])
    model.compile("adam", "mse")
    assert len(model.fit(data, epochs=1, verbose=0).history["loss"]) == 1
    if keras.backend.backend() != "torch":
        with pytest.raises(ValueError, match="deadlocks"):
            AudioFileDataset(noisy, pipeline=ks.STFTSplit(n_fft=256), workers=2, use_multiprocessing=True)


def test_dataset_refuses_unequal_lengths_and_unpaired_lists(pairs):
    noisy, clean = pairs
    with pytest.raises(ValueError, match="differ in shape"):
        AudioFileDataset(noisy, batch_size=5)[0]
    with pytest.raises(ValueError, match="pair up"):
        AudioFileDataset(noisy, targets=clean[:2])


def test_pipeline_adapts_on_the_dataset_one_batch_at_a_time(pairs, capsys):
    noisy, _ = pairs
    data = AudioFileDataset(noisy, batch_size=2, length=3000)
    pipeline = ks.SpectrogramPipeline([ks.STFTSplit(n_fft=256), ks.SpectrogramScaler("standard")])
    pipeline.adapt(data, verbose=1)
    assert "3/3" in capsys.readouterr().out
    images = np.concatenate([to_numpy(pipeline.layers[0](data[i])) for i in range(3)])
    np.testing.assert_allclose(to_numpy(pipeline.layers[1].mean), images.mean(), rtol=1e-5)
    np.testing.assert_allclose(to_numpy(pipeline.layers[1].variance), images.var(), rtol=1e-4)


def test_tf_dataset_applies_the_pipeline_in_map(pairs):
    pytest.importorskip("tensorflow")
    noisy, clean = pairs
    to_images = ks.SpectrogramPipeline([ks.STFTSplit(n_fft=256), ks.SpectrogramScaler(minimum=-3.0, maximum=3.0)])
    data = to_tf_dataset(AudioFileDataset(noisy, targets=clean, batch_size=2, length=3000), to_images)
    batches = list(data)
    assert len(batches) == 3
    x, y = batches[0]
    np.testing.assert_allclose(y.numpy(), to_numpy(to_images(np.stack([load_audio(c, length=3000) for c in clean[:2]]))), atol=1e-5)
    back = to_numpy(to_images.inverse()(x.numpy()))
    assert_exact(back, np.stack([load_audio(n, length=3000) for n in noisy[:2]]))


def test_torch_batches_finite_and_infinite(pairs):
    torch = pytest.importorskip("torch")
    noisy, clean = pairs
    batches = TorchBatches(AudioFileDataset(noisy, targets=clean, batch_size=2, length=3000), device="cpu")
    x, y = batches[0]
    assert isinstance(x, torch.Tensor) and x.device.type == "cpu" and tuple(x.shape) == (2, 3000, 2)
    assert len(list(batches)) == 3
    endless = iter(TorchBatches(AudioFileDataset(noisy, batch_size=2, length=3000), repeat=True))
    assert len([next(endless) for _ in range(7)]) == 7
    loader = torch.utils.data.DataLoader(batches, batch_size=None)
    assert sum(1 for _ in loader) == 3


def test_audio_submodules_import_lazily():
    import subprocess

    code = (
        "import sys, keras; before = set(sys.modules); import keras_spectro; "
        "keras_spectro.audio.load_audio; keras_spectro.utils.save_wav; "
        "print(sorted(m for m in ('matplotlib', 'tensorflow', 'torch') if m in set(sys.modules) - before))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"KERAS_BACKEND": "jax", "PATH": ""}, check=True)
    assert out.stdout.strip() == "[]"

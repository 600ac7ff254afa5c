import sys

import keras
import numpy as np
import pytest
import soundfile

import keras_spectro as ks
from keras_spectro.audio import AudioFileDataset, TorchBatches, load_audio, to_tf_dataset
from keras_spectro.layers.padding import padding_widths

from conftest import DATA, assert_exact, to_numpy


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
        for folder, signal, names in (
            ("clean", wave, clean),
            ("noisy", wave + 0.01 * rng.standard_normal(wave.shape), noisy),
        ):
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
    history = model.fit(
        AudioFileDataset(noisy, targets=clean, batch_size=2, length=3000, shuffle=True, workers=2), epochs=2, verbose=0
    )
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


def test_dataset_refuses_inputs_and_targets_that_differ(pairs, tmp_path):
    noisy, clean = pairs
    mono = tmp_path / "mono.wav"
    soundfile.write(mono, np.zeros((3000, 1)), 8000)
    for targets, says in (
        (clean[1:2], r"\(3000 samples, 2 channels\) and its target .*1.wav \(2900 samples, 2 channels\) differ"),
        ([mono], r"\(3000 samples, 2 channels\) and its target .*mono.wav \(3000 samples, 1 channels\) differ"),
    ):
        with pytest.raises(ValueError, match=rf"0.wav {says}"):
            AudioFileDataset(noisy[:1], targets=targets)[0]
    inputs, targets = AudioFileDataset(noisy[:1], targets=clean[1:2], length=2000)[0]  # cut to one length: they pair up
    assert inputs.shape == targets.shape == (1, 2000, 2)


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
    assert len(batches) == 3 == int(data.cardinality())  # known, so fit() never runs out of data
    x, y = batches[0]
    np.testing.assert_allclose(
        y.numpy(), to_numpy(to_images(np.stack([load_audio(c, length=3000) for c in clean[:2]]))), atol=1e-5
    )
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
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"KERAS_BACKEND": "jax", "PATH": ""},
        check=True,
    )
    assert out.stdout.strip() == "[]"


def _reference(full, offset, length, mode):
    """What load_audio returns: AudioPadding(length, mode) applied to full[offset:]."""
    part = full[offset:]
    if length is None:
        return part
    part = np.pad(part, (padding_widths(len(part), length, mode), (0, 0)))
    return part[-length:] if mode == "left" else part[:length]


@pytest.mark.parametrize(
    "name", ["voice_stereo_16bit_44k.wav", "voice_stereo_24bit_44k.wav", "voice_mono_22k.wav", "x.flac"]
)
def test_partial_reads_equal_slices_of_a_full_read(tmp_path, rng, name, monkeypatch):
    path = DATA / name
    if name == "x.flac":
        path = tmp_path / name
        soundfile.write(path, rng.uniform(-0.5, 0.5, (30001, 2)), 16000, subtype="PCM_24")
    full = load_audio(path, channels=2)
    n = len(full)
    read = soundfile.SoundFile.read
    asked = []
    monkeypatch.setattr(
        soundfile.SoundFile, "read", lambda self, frames=-1, **kw: asked.append(frames) or read(self, frames, **kw)
    )
    cases = [(0, 100, "right"), (12345, 1000, "right"), (n - 1000, 1000, "right"), (n - 300, 1000, "right"), (n - 1, 5, "right"),
             (n - 300, 1000, "left"), (5000, 1000, "left"), (n - 300, 1001, "center"), (7, 999, "center"), (n - 10, None, "right"), (3, None, "left")]  # fmt: skip
    for offset, length, mode in cases:
        asked.clear()
        part = load_audio(path, channels=2, offset=offset, length=length, mode=mode)
        np.testing.assert_array_equal(part, _reference(full, offset, length, mode), err_msg=f"{offset} {length} {mode}")
        assert asked == [min(n - offset, length or n)]  # only what is returned is read


def test_offset_must_lie_inside_the_file():
    path = DATA / "voice_mono_22k.wav"
    n = soundfile.info(path).frames
    with pytest.raises(
        ValueError, match=f"voice_mono_22k.wav: offset {n} is past the end of the file \\({n} samples\\)"
    ):
        load_audio(path, offset=n, length=10)
    for offset in (-1, 2.5):
        with pytest.raises(ValueError, match="offset must be a non-negative integer"):
            load_audio(path, offset=offset)
    with pytest.raises(ValueError, match="length must be a positive integer"):
        load_audio(path, length=0)


@pytest.mark.parametrize(
    "name, rate",
    [("voice_mono_22k.wav", 44100), ("voice_stereo_16bit_44k.wav", 16000), ("voice_stereo_24bit_44k.wav", 48000)],
)
def test_resample_equals_slices_of_the_whole_file_converted(name, rate):
    soxr = pytest.importorskip("soxr")
    wave, source_rate = soundfile.read(DATA / name, dtype="float32", always_2d=True)
    full = soxr.resample(wave, source_rate, rate, quality="HQ")
    loaded = load_audio(DATA / name, sample_rate=rate, resample=True)
    np.testing.assert_array_equal(loaded, full)
    n = len(full)
    for offset, length in [(0, 3000), (rate // 3, 5000), (n - 2000, 2000), (n - 1000, 4000), (12345, None)]:
        part = load_audio(DATA / name, sample_rate=rate, resample=True, offset=offset, length=length)
        assert_exact(part, _reference(full, offset, length, "right"), 1e-5)
    with pytest.raises(
        ValueError, match=f"{name}: sample rate {source_rate} Hz, expected {rate} Hz \\(pass resample=True"
    ):
        load_audio(DATA / name, sample_rate=rate)
    with pytest.raises(ValueError, match="resample=True needs the sample_rate"):
        load_audio(DATA / name, resample=True)


def test_resample_without_soxr_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "soxr", None)
    with pytest.raises(ImportError, match=r'pip install "keras_spectro\[resample\]"'):
        load_audio(DATA / "voice_mono_22k.wav", sample_rate=16000, resample=True)
    assert load_audio(DATA / "voice_mono_22k.wav", sample_rate=22050, resample=True).shape[1] == 1  # nothing to convert


def test_sample_rate_is_checked_and_a_whole_float_is_the_same_rate():
    path = DATA / "voice_mono_22k.wav"
    whole = load_audio(path)
    for rate, resample in [(22050.0, False), (22050.0, True), (np.int64(22050), True)]:
        np.testing.assert_array_equal(
            load_audio(path, sample_rate=rate, resample=resample, offset=5, length=99), whole[5:104]
        )
    for rate in [0, -1, True, float("nan")]:  # 0 read the file at its own rate with resample=True
        with pytest.raises(ValueError, match="sample_rate must be a positive number"):
            load_audio(path, sample_rate=rate, resample=True)
    with pytest.raises(ValueError, match=r"cannot convert to 22050.5 Hz: files hold a whole number of Hz"):
        load_audio(path, sample_rate=22050.5, resample=True)  # was a TypeError from math.gcd


@pytest.fixture
def ramps(tmp_path):
    """Files whose every sample says where it is: channel 0 = index / 2**15, channel 1 = -that."""
    paths = []
    for i, samples in enumerate([20000, 9000, 3000]):
        ramp = np.arange(samples) / 2**15
        for folder, sign in (("a", 1), ("b", -1)):
            (tmp_path / folder).mkdir(exist_ok=True)
            soundfile.write(tmp_path / folder / f"{i}.wav", sign * np.stack([ramp, -ramp], 1), 8000, subtype="FLOAT")
        paths.append(tmp_path / "a" / f"{i}.wav")
    return paths


def _segments(data):
    return np.concatenate([data[i] for i in range(len(data))])


def test_random_segments_are_slices_that_change_each_epoch(ramps):
    data = AudioFileDataset(ramps, batch_size=2, length=4000, mode="random", seed=7)
    epochs = []
    for _ in range(3):
        batch = _segments(data)
        assert batch.shape == (3, 4000, 2)
        for segment, path in zip(batch, ramps):
            full = load_audio(path)
            offset = int(round(segment[0, 0] * 2**15))
            np.testing.assert_array_equal(segment, _reference(full, offset, 4000, "right"))
        assert np.all(batch[2, 3000:] == 0) and batch[2, 0, 0] == 0  # the short file: padded at the end
        epochs.append(batch[:2, 0, 0])
        data.on_epoch_end()
    assert not np.array_equal(epochs[0], epochs[1]) and not np.array_equal(epochs[1], epochs[2])
    again = AudioFileDataset(ramps, batch_size=3, length=4000, mode="random", seed=7)
    for expected in epochs:
        np.testing.assert_array_equal(_segments(again)[:2, 0, 0], expected)
        again.on_epoch_end()
    other = AudioFileDataset(ramps, batch_size=3, length=4000, mode="random", seed=8)
    assert not np.array_equal(_segments(other)[:2, 0, 0], epochs[0])


def test_random_segments_pair_targets_shuffle_and_resample(ramps, monkeypatch):
    targets = [str(p).replace("/a/", "/b/") for p in ramps]
    data = AudioFileDataset(ramps, targets=targets, batch_size=3, length=4000, mode="random", shuffle=True, seed=0)
    x, y = data[0]
    np.testing.assert_array_equal(x, -y)  # a file and its target: the same segment
    read = soundfile.SoundFile.read
    asked = []
    monkeypatch.setattr(
        soundfile.SoundFile, "read", lambda self, frames=-1, **kw: asked.append(frames) or read(self, frames, **kw)
    )
    data.on_epoch_end()
    data[0]
    assert max(asked) == 4000  # only segments are read
    monkeypatch.undo()
    with pytest.raises(ValueError, match='mode="random" needs the segment length'):
        AudioFileDataset(ramps, mode="random")
    soxr = pytest.importorskip("soxr")
    resampled = AudioFileDataset(ramps[:1], length=3000, sample_rate=16000, resample=True, mode="random", seed=1)
    full = soxr.resample(soundfile.read(ramps[0], dtype="float32")[0], 8000, 16000, quality="HQ")
    for _ in range(2):
        segment = resampled[0][0]
        offset = int(np.argmin(np.abs(full[:, 0] - segment[1000, 0]))) - 1000
        assert_exact(segment, full[offset : offset + 3000], 1e-5)
        resampled.on_epoch_end()

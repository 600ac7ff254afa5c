"""MixtureDataset: training pairs drawn on the fly, rebuilt from their files and checked."""

import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
import soundfile

import keras_spectro as ks
from keras_spectro.audio import MixtureDataset, TorchBatches, load_audio, to_tf_dataset

from conftest import BACKEND, DATA, assert_exact, to_numpy

RATE, LENGTH = 8000, 1000
ROOT = pathlib.Path(__file__).resolve().parents[1]


def _write(path, wave, rate=RATE):
    soundfile.write(path, wave, rate, subtype="FLOAT")
    return str(path)


@pytest.fixture
def corpus(tmp_path):
    """Clean stereo files (one shorter than a segment), stereo and mono noise files, all at 8 kHz."""
    rng = np.random.default_rng(7)
    tone = lambda n, f: 0.3 * np.sin(2 * np.pi * f * np.arange(n) / RATE)[:, None] * np.array([1.0, 0.5])
    clean = [
        _write(tmp_path / f"clean_{i}.wav", tone(n, f))
        for i, (n, f) in enumerate([(3000, 220), (2500, 330), (600, 440)])
    ]
    other = [_write(tmp_path / f"other_{i}.wav", rng.uniform(-0.2, 0.2, (n, 2))) for i, n in enumerate([2000, 1800])]
    noises = [
        _write(tmp_path / "noise_0.wav", rng.normal(0, 0.1, (4000, 2))),
        _write(tmp_path / "noise_mono.wav", rng.normal(0, 0.5, 3000)),
    ]
    return {"clean": clean, "other": other, "noises": noises, "dir": tmp_path}


def _segment(path, offset, length=LENGTH):
    return load_audio(path, RATE, 2, length=length, offset=offset).astype("float64")


def _snr_db(signal, noise):
    return 10 * np.log10(np.sum(np.asarray(signal, "float64") ** 2) / np.sum(np.asarray(noise, "float64") ** 2))


def test_items_rebuild_from_their_files(corpus):
    data = MixtureDataset(
        corpus["clean"],
        corpus["noises"],
        length=LENGTH,
        batch_size=6,
        batches=3,
        snr_db=(-5, 15),
        gain_db=(-6, 6),
        seed=3,
    )
    assert len(data) == 3 and data.sample_rate == RATE and data.channels == 2
    seen = set()
    for index in range(len(data)):
        mixture, target = data[index]
        assert mixture.dtype == target.dtype == np.float32
        assert mixture.shape == target.shape == (6, LENGTH, 2)
        for item, mix, clean in zip(data.draws(index), mixture, target):
            (path, offset), (gain,) = item["sources"][0], item["gains_db"]
            assert -6 <= gain <= 6 and -5 <= item["snr_db"] <= 15
            assert_exact(clean, _segment(path, offset) * 10 ** (gain / 20))
            noise_path, noise_offset = item["noise"]
            segment = _segment(noise_path, noise_offset)
            scale = np.sqrt(np.sum(clean.astype("float64") ** 2) / np.sum(segment**2) / 10 ** (item["snr_db"] / 10))
            assert_exact(mix - clean, segment * scale, tolerance=1e-4)  # a difference of float32 values
            assert_exact(mix, clean + segment * scale)  # the mixture is the sum
            assert abs(_snr_db(clean, mix.astype("float64") - clean) - item["snr_db"]) < 0.01
            seen.add((path, noise_path))
    assert len({p for p, _ in seen}) == 3 and len({n for _, n in seen}) == 2  # every file was drawn


def test_short_files_are_padded_and_mono_repeated(corpus):
    short, mono = corpus["clean"][2], corpus["noises"][1]
    mixture, target = MixtureDataset([short], [mono], length=LENGTH, batch_size=2, batches=1, snr_db=0, seed=0)[0]
    wave = soundfile.read(short, dtype="float32")[0]
    for item in target:
        np.testing.assert_array_equal(item[:600], wave)
        assert not item[600:].any()  # padded at the end with zeros
    noise = mixture - target
    np.testing.assert_allclose(noise[..., 0], noise[..., 1], atol=1e-7)  # mono repeated
    _, only_mono = MixtureDataset([mono], length=10, batches=1, seed=0)[0]
    np.testing.assert_array_equal(only_mono[..., 0:1].repeat(1, -1), only_mono[..., :1])
    assert only_mono.shape == (8, 10, 1)  # channels from the first file
    _, repeated = MixtureDataset([mono], length=10, batches=1, channels=3, seed=0)[0]
    assert repeated.shape == (8, 10, 3) and np.all(repeated == repeated[..., :1])


def test_without_noise_the_mixture_is_the_sum_of_the_sources(corpus):
    data = MixtureDataset([corpus["clean"], corpus["other"]], length=LENGTH, batch_size=4, batches=2, seed=1)
    mixture, target = data[1]
    assert target.shape == (4, 2, LENGTH, 2) and mixture.shape == (4, LENGTH, 2)
    assert_exact(mixture, target.astype("float64").sum(axis=1))
    for item, sources in zip(data.draws(1), target):
        assert item["noise"] is None and item["snr_db"] is None and item["gains_db"] is None
        assert [p in corpus[k] for (p, _), k in zip(item["sources"], ("clean", "other"))] == [True, True]
        for (path, offset), source in zip(item["sources"], sources):
            np.testing.assert_array_equal(source, _segment(path, offset).astype("float32"))


def test_k_kinds_give_the_separation_layout_in_both_data_formats(corpus):
    options = dict(length=LENGTH, batch_size=3, batches=2, gain_db=(-3, 3), seed=5)
    kinds = [corpus["clean"], corpus["other"]]
    last = MixtureDataset(kinds, corpus["noises"], **options)
    mixture, target = last[0]
    assert target.shape == (3, 2, LENGTH, 2)
    previous = keras.config.image_data_format()
    keras.config.set_image_data_format("channels_first")
    try:
        first = MixtureDataset(kinds, corpus["noises"], **options)
        mixture_cf, target_cf = first[0]
        _, one_kind = MixtureDataset(corpus["clean"], **options)[0]
        domain = ks.SpectrogramDomain(
            ks.SpectrogramPipeline([ks.STFTSplit(n_fft=64)]), keras.layers.Identity(), sources=1
        )
        out = to_numpy(domain(mixture_cf))
    finally:
        keras.config.set_image_data_format(previous)
    assert (
        mixture_cf.shape == (3, 2, LENGTH) and target_cf.shape == (3, 2, 2, LENGTH) and one_kind.shape == (3, 2, LENGTH)
    )
    np.testing.assert_array_equal(mixture_cf, np.swapaxes(mixture, -1, -2))
    np.testing.assert_array_equal(target_cf, np.swapaxes(target, -1, -2))
    assert_exact(out, mixture_cf)  # a channels_first SpectrogramDomain takes the mixture as it is
    # SpectrogramDomain(sources=2) gives its output in the target's layout
    images = keras.Input((33, None, 4))
    twice = keras.Model(images, keras.layers.Concatenate()([images, images]))
    separator = ks.SpectrogramDomain(ks.SpectrogramPipeline([ks.STFTSplit(n_fft=64)]), twice, sources=2)
    assert tuple(separator(mixture).shape) == target.shape


def test_the_same_seed_gives_the_same_batches_in_any_order_with_workers(corpus):
    from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter

    make = lambda seed=11, **kw: MixtureDataset(
        corpus["clean"], corpus["noises"], length=LENGTH, batch_size=3, batches=4, seed=seed, **kw
    )
    forward = {i: make()[i] for i in range(4)}
    data = make()
    backward = {i: data[i] for i in reversed(range(4))}
    threaded = make(workers=2, use_multiprocessing=False)
    adapter = PyDatasetAdapter(threaded, shuffle=False)
    epochs = []
    for _ in range(2):
        adapter.on_epoch_begin()
        epochs.append([tuple(np.asarray(x) for x in batch) for batch in adapter.get_numpy_iterator()])
        adapter.on_epoch_end()
    for i in range(4):
        for a, b, c in zip(forward[i], backward[i], epochs[0][i]):
            np.testing.assert_array_equal(a, b)
            np.testing.assert_array_equal(a, c)
    # each epoch draws afresh, and the next epoch is the same for the same seed
    assert threaded.epoch == 2
    again = make()
    again.on_epoch_end()
    assert not np.array_equal(again[0][1], forward[0][1])
    for i in range(4):
        np.testing.assert_array_equal(again[i][0], epochs[1][i][0])
    assert again.draws(0) != make().draws(0)
    assert again.draws(0, epoch=0) == make().draws(0) and make().draws(3, epoch=1) == again.draws(
        3
    )  # any epoch's items
    with pytest.raises(ValueError, match="epoch must be a non-negative integer"):
        again.draws(0, epoch=-1)
    assert not np.array_equal(make(seed=None)[0][0], make(seed=None)[0][0])  # a random seed each


def test_the_same_seed_gives_the_same_batches_on_another_backend(corpus):
    other = {"jax": "tensorflow", "tensorflow": "torch", "torch": "jax"}[BACKEND]
    out = corpus["dir"] / "other.npz"
    code = (
        "import sys, json, numpy as np; from keras_spectro.audio import MixtureDataset; "
        "a = json.loads(sys.argv[1]); d = MixtureDataset([a['clean'], a['other']], a['noises'], length=1000, "
        "batch_size=2, batches=3, gain_db=(-3, 3), seed=21); d.on_epoch_end(); "
        "np.savez(a['out'], *[x for i in (2, 0) for x in d[i]])"
    )
    import json

    arguments = json.dumps({k: corpus[k] for k in ("clean", "other", "noises")} | {"out": str(out)})
    env = {**os.environ, "KERAS_BACKEND": other, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", code, arguments], env=env, check=True, capture_output=True, timeout=300)
    here = MixtureDataset(
        [corpus["clean"], corpus["other"]],
        corpus["noises"],
        length=LENGTH,
        batch_size=2,
        batches=3,
        gain_db=(-3, 3),
        seed=21,
    )
    here.on_epoch_end()
    theirs = np.load(out)
    for name, ours in zip(sorted(theirs.files, key=lambda n: int(n.split("_")[1])), [*here[2], *here[0]]):
        np.testing.assert_array_equal(theirs[name], ours)


def test_silent_segments_are_drawn_again_then_refused(corpus):
    silent = _write(corpus["dir"] / "silent.wav", np.zeros((2000, 2)))
    with pytest.raises(ValueError, match="silent.wav: silent segments"):
        MixtureDataset(corpus["clean"], [silent], length=LENGTH, batches=1, seed=0)[0]
    with pytest.raises(ValueError, match="silent.wav: silent segments"):
        MixtureDataset([silent], corpus["noises"], length=LENGTH, batches=1, seed=0)[0]
    # among other files, a silent one is drawn again: never in a batch, never in draws()
    data = MixtureDataset(corpus["clean"] + [silent], length=LENGTH, batch_size=16, batches=2, seed=0)
    assert all(item["sources"][0][0] != silent for i in range(2) for item in data.draws(i))
    assert all(np.sum(data[i][1] ** 2, axis=(1, 2)).min() >= 1e-10 for i in range(2))
    # a file silent only in part: its silent segments are drawn again, never returned
    half = np.concatenate([np.zeros((1000, 2)), 0.1 * np.ones((1000, 2))])
    half_silent = _write(corpus["dir"] / "half_silent.wav", half)
    _, target = MixtureDataset([half_silent], length=500, batch_size=16, batches=1, seed=0)[0]
    assert np.all(np.sum(target**2, axis=(1, 2)) >= 1e-10)


def test_a_file_at_another_rate_is_refused_unless_resampled(corpus):
    fast = _write(corpus["dir"] / "fast.wav", np.random.default_rng(0).normal(0, 0.1, (6000, 2)), rate=12000)
    with pytest.raises(ValueError, match="fast.wav: sample rate 12000 Hz, expected 8000 Hz"):
        MixtureDataset(corpus["clean"], [fast], length=LENGTH, batches=1, seed=0)  # when made, not when drawn
    data = MixtureDataset(corpus["clean"], [fast], length=LENGTH, batches=1, seed=0, resample=True)
    mixture, target = data[0]
    for item, mix, clean in zip(data.draws(0), mixture, target):
        path, offset = item["noise"]
        assert offset <= 4000 - LENGTH  # offsets count samples at 8 kHz
        segment = load_audio(path, RATE, 2, length=LENGTH, offset=offset, resample=True)
        assert abs(_snr_db(clean, mix.astype("float64") - clean) - item["snr_db"]) < 0.01
        scale = np.sqrt(np.sum(clean.astype("float64") ** 2) / np.sum(segment.astype("float64") ** 2))
        assert_exact(mix - clean, segment * scale / 10 ** (item["snr_db"] / 20), tolerance=1e-4)
    with pytest.raises(ValueError, match="fast.wav: sample rate 12000 Hz, expected 16000 Hz"):
        MixtureDataset([fast], length=10, batches=1, sample_rate=16000, seed=0)
    one = _write(corpus["dir"] / "one.wav", [[0.5, 0.5]], rate=44100)  # no sample left at 8 kHz
    with pytest.raises(ValueError, match="one.wav: 1 samples at 44100 Hz make none at 8000 Hz"):
        MixtureDataset(corpus["clean"], [one], length=LENGTH, resample=True)


def test_files_that_cannot_be_drawn_are_refused_when_the_dataset_is_made(corpus):
    """Every file's header is checked up front: a wrong corpus fails before training, naming the file."""
    bad = corpus["dir"] / "bad.wav"
    bad.write_bytes(b"not audio")
    stereo, mono = corpus["clean"][0], corpus["noises"][1]
    with pytest.raises(ValueError, match="bad.wav: not an audio file"):
        MixtureDataset(corpus["clean"], [*corpus["noises"], str(bad)], length=LENGTH)
    with pytest.raises(FileNotFoundError, match="gone.wav"):
        MixtureDataset([corpus["clean"], [str(corpus["dir"] / "gone.wav")]], length=LENGTH)
    with pytest.raises(ValueError, match="clean_0.wav: 2 channels, expected 1"):
        MixtureDataset([mono, stereo], length=LENGTH, channels=1)
    assert MixtureDataset([stereo, mono], length=LENGTH)[0][1].shape == (8, LENGTH, 2)  # mono is repeated


def test_nan_or_inf_in_a_segment_is_refused_naming_the_file(corpus):
    """Not taken for silence (NaN) nor passed on as a NaN mixture (inf): the file and samples are named."""
    nans = _write(corpus["dir"] / "nans.wav", np.full((2000, 2), np.nan))
    spike = np.random.default_rng(0).normal(0, 0.1, (900, 2))
    spike[450, 1] = np.inf
    inf = _write(corpus["dir"] / "inf.wav", spike)  # shorter than a segment: every draw holds the inf
    with pytest.raises(ValueError, match=r"nans.wav: NaN or inf in samples \d+ to \d+ \(at 8000 Hz\)"):
        MixtureDataset(corpus["clean"], [nans], length=LENGTH, batches=1, seed=0)[0]
    with pytest.raises(ValueError, match="inf.wav: NaN or inf in samples 0 to 1000"):
        MixtureDataset([inf], corpus["noises"], length=LENGTH, batches=1, seed=0)[0]
    with pytest.raises(ValueError, match="inf.wav: NaN or inf"):
        MixtureDataset(corpus["clean"], [inf], length=LENGTH, batches=1, seed=0).draws(0)


@pytest.mark.parametrize("snr_db", [-100, 100])
def test_the_snr_is_realised_at_the_limits(corpus, snr_db):
    mixture, target = MixtureDataset(
        corpus["clean"], corpus["noises"], length=LENGTH, batches=1, snr_db=snr_db, seed=0
    )[0]
    assert np.all(np.isfinite(mixture))
    for mix, clean in zip(mixture, target):
        assert abs(_snr_db(clean, mix.astype("float64") - clean) - snr_db) < 0.01


@pytest.mark.parametrize(
    "sources, noises, options, message",
    [
        ([], None, {}, "sources is empty"),
        ("a.wav", None, {}, "sources must be a list"),
        ([["a.wav"], []], None, {}, r"sources\[1\] is empty"),
        (["a.wav", ["b.wav"]], None, {}, "not a mix"),
        (None, [], {}, "noises is empty"),
        (None, None, {"length": 0}, "length must be a positive integer; got 0"),
        (None, None, {"length": -5}, "length must be a positive integer"),
        (None, None, {"length": 10.5}, "length must be a positive integer"),
        (None, None, {"length": None}, "length must be a positive integer"),
        (None, None, {"batches": 0}, "batches must be a positive integer"),
        (None, None, {"batch_size": 0}, "batch_size must be a positive integer"),
        (None, None, {"snr_db": (10, 0)}, "snr_db must be finite with low <= high"),
        (None, None, {"snr_db": (0, np.inf)}, "snr_db must be finite"),
        (None, None, {"snr_db": "loud"}, "snr_db must be a"),
        (None, None, {"gain_db": (1, 2, 3)}, "gain_db must be a"),
        (None, None, {"seed": -1}, "seed must be a non-negative integer"),
        (None, None, {"snr_db": True}, "snr_db must be a"),
        (None, None, {"snr_db": 120}, "snr_db must lie within ±100 dB"),  # realised 0.01 dB off in float32
        (None, None, {"snr_db": (-800, 0)}, "snr_db must lie within ±100 dB"),  # the mixture overflows float32
        (None, None, {"snr_db": (0, 4000)}, "snr_db must lie within ±100 dB"),  # an OverflowError before
        (None, None, {"gain_db": (0, 1000)}, "gain_db must lie within ±100 dB"),  # inf targets before
    ],
)
def test_bad_arguments_are_refused_clearly(corpus, sources, noises, options, message):
    options = {"length": LENGTH} | options
    with pytest.raises(ValueError, match=message):
        MixtureDataset(corpus["clean"] if sources is None else sources, noises, **options)


def test_index_out_of_range_and_missing_files(corpus):
    data = MixtureDataset(corpus["clean"], length=LENGTH, batches=2, seed=0)
    with pytest.raises(IndexError, match="batch 2 out of range"):
        data[2]
    with pytest.raises(FileNotFoundError, match="missing.wav"):
        MixtureDataset([str(corpus["dir"] / "missing.wav")], length=LENGTH)
    with pytest.raises(FileNotFoundError, match="gone.wav"):
        MixtureDataset(corpus["clean"], [str(corpus["dir"] / "gone.wav")], length=LENGTH, batches=1, seed=0)[0]


def test_length_one_and_one_item(corpus):
    mixture, target = MixtureDataset(corpus["clean"], corpus["noises"], length=1, batch_size=1, batches=1, seed=4)[0]
    assert mixture.shape == target.shape == (1, 1, 2)


def test_pipeline_per_batch_for_each_source(corpus):
    to_images = ks.SpectrogramPipeline([ks.STFTSplit(n_fft=64)])
    options = dict(length=LENGTH, batch_size=2, batches=1, seed=2)
    images, image_targets = MixtureDataset([corpus["clean"], corpus["other"]], pipeline=to_images, **options)[0]
    mixture, target = MixtureDataset([corpus["clean"], corpus["other"]], **options)[0]
    assert_exact(images, to_images(mixture))
    assert image_targets.shape == (2, 2, *images.shape[1:])
    for k in range(2):
        assert_exact(image_targets[:, k], to_images(target[:, k]))


def test_a_spectrogram_domain_model_fits_and_its_pipeline_adapts(corpus):
    data = MixtureDataset(corpus["clean"], corpus["noises"], length=LENGTH, batch_size=4, batches=3, seed=9)
    pipeline = ks.SpectrogramPipeline([ks.STFTSplit(n_fft=64), ks.SpectrogramScaler("standard")])
    pipeline.adapt(data)
    reference = ks.SpectrogramPipeline([ks.STFTSplit(n_fft=64), ks.SpectrogramScaler("standard")])
    reference.adapt(np.concatenate([data[i][0] for i in range(len(data))]))  # the mixtures, as one array
    assert_exact(pipeline(data[0][0]), reference(data[0][0]), tolerance=1e-4)
    network = keras.Sequential([keras.Input((33, None, 4)), keras.layers.Conv2D(4, 3, padding="same")])
    model = keras.Sequential([keras.Input((None, 2)), ks.SpectrogramDomain(pipeline, network)])
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(data, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert data.epoch == 3  # fresh draws each epoch, after Keras' reset before the first (docs/training.md)


def test_to_tf_dataset_and_torch_batches_give_the_same_batches(corpus):
    make = lambda: MixtureDataset(
        [corpus["clean"], corpus["other"]], corpus["noises"], length=LENGTH, batch_size=2, batches=2, seed=8
    )
    expected = [make()[i] for i in range(2)]
    tf_batches = list(to_tf_dataset(make()).as_numpy_iterator())
    for (x, y), (ex, ey) in zip(tf_batches, expected, strict=True):
        np.testing.assert_array_equal(x, ex)
        np.testing.assert_array_equal(y, ey)
    to_images = ks.SpectrogramPipeline([ks.STFTSplit(n_fft=64)])
    images = MixtureDataset(
        [corpus["clean"], corpus["other"]],
        corpus["noises"],
        length=LENGTH,
        batch_size=2,
        batches=2,
        seed=8,
        pipeline=to_images,
    )
    for (x, y), (ex, ey) in zip(to_tf_dataset(make(), to_images).as_numpy_iterator(), images, strict=True):
        assert y.shape == (2, 2, *x.shape[1:])  # the pipeline applied to each source of the K-kinds target
        assert_exact(x, ex)
        assert_exact(y, ey)
    pytest.importorskip("torch")
    for (x, y), (ex, ey) in zip(TorchBatches(make()), expected, strict=True):
        np.testing.assert_array_equal(x.numpy(), ex)
        np.testing.assert_array_equal(y.numpy(), ey)


def test_channel_counts_and_worker_processes_with_a_pipeline_are_refused_clearly(corpus):
    mono = corpus["noises"][1]
    with pytest.raises(ValueError, match="noise_0.wav: 2 channels, expected 1"):
        MixtureDataset([mono], corpus["noises"][:1], length=LENGTH, batches=1, seed=0)[0]
    to_images = ks.SpectrogramPipeline([ks.STFTSplit(n_fft=64)])
    if BACKEND != "torch":
        with pytest.raises(ValueError, match="use_multiprocessing=True with a pipeline"):
            MixtureDataset(corpus["clean"], length=LENGTH, pipeline=to_images, workers=2, use_multiprocessing=True)


@pytest.mark.skipif(BACKEND != "torch", reason="forked worker processes are safe under torch only")
def test_worker_processes_give_the_same_batches(corpus):
    from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter

    make = lambda **kw: MixtureDataset(
        corpus["clean"], corpus["noises"], length=LENGTH, batch_size=2, batches=3, seed=5, **kw
    )
    adapter = PyDatasetAdapter(make(workers=2, use_multiprocessing=True), shuffle=False)
    adapter.on_epoch_begin()
    got = [tuple(np.asarray(x) for x in batch) for batch in adapter.get_numpy_iterator()]
    adapter.on_epoch_end()
    expected = make()
    for i, (x, y) in enumerate(got):
        np.testing.assert_array_equal(x, expected[i][0])
        np.testing.assert_array_equal(y, expected[i][1])


def test_real_recordings_24_bit_and_mono_at_another_rate_rebuild_from_their_files():
    """A 24-bit stereo recording at 44.1 kHz, mono noise at 22.05 kHz resampled, a 1-sample segment too."""
    clean, noise = str(DATA / "voice_stereo_24bit_44k.wav"), str(DATA / "voice_mono_22k.wav")
    for length in (1, 2048):
        data = MixtureDataset([clean], [noise], length=length, batch_size=3, batches=1, resample=True, seed=6)
        mixture, target = data[0]
        assert data.sample_rate == 44100 and mixture.shape == target.shape == (3, length, 2)
        for item, mix, source in zip(data.draws(0), mixture, target):
            (path, offset), (noise_path, noise_offset) = item["sources"][0], item["noise"]
            np.testing.assert_array_equal(source, load_audio(path, 44100, 2, length=length, offset=offset))
            segment = load_audio(noise_path, 44100, 2, length=length, offset=noise_offset, resample=True)
            scale = np.sqrt(np.sum(source.astype("float64") ** 2) / np.sum(segment.astype("float64") ** 2))
            assert_exact(mix, source + segment * scale / 10 ** (item["snr_db"] / 20))
            assert abs(_snr_db(source, mix.astype("float64") - source) - item["snr_db"]) < 0.01

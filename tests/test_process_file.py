"""`process_file`: a model over a recording chunk by chunk equals the model over the whole file."""

import signal

import keras
import numpy as np
import pytest
import soundfile

import keras_spectro as ks
from keras_spectro import audio_io
from keras_spectro.audio import process_file

from conftest import DATA, assert_exact

RATE = 16000


class BinGain(keras.layers.Layer):
    """A fixed gain per frequency bin: a linear filter in the spectrogram domain."""

    def call(self, images):
        gain = np.linspace(0.2, 1.5, images.shape[1], dtype="float32")[:, None, None]
        return images * gain

    def compute_output_shape(self, input_shape):
        return input_shape


def make_model(channels, gain=True, hop_length=None):
    domain = ks.SpectrogramDomain([ks.STFTSplit(n_fft=256, hop_length=hop_length)], BinGain() if gain else None)
    return keras.Sequential([keras.Input((None, channels)), domain])


def whole_file(model, path):
    wave, _ = soundfile.read(path, dtype="float32", always_2d=True)
    return model.predict_on_batch(wave[None])[0]


@pytest.fixture
def recording(tmp_path, rng):
    def make(samples, channels, name="source.wav", subtype="FLOAT"):
        t = np.arange(samples)[:, None] / RATE
        wave = 0.2 * np.sin(2 * np.pi * np.array([440.0, 1234.5])[:channels] * t) + 0.05 * rng.standard_normal(
            (samples, channels)
        )
        soundfile.write(tmp_path / name, wave, RATE, subtype=subtype)
        return tmp_path / name

    return make


@pytest.mark.parametrize(
    "samples, channels, chunk_seconds, gain, hop_length",
    [
        (32000, 2, 0.5, True, None),  # step 6400: 5 steps make the file
        (37001, 2, 0.37, True, None),  # step rounded down to a multiple of the hop
        (37001, 1, 0.5, True, 48),  # a hop that 6400 is no multiple of
        (20000, 1, 0.5, False, None),  # the identity
        (5000, 2, 1.0, True, None),  # one chunk
        (37001, 2, 0.5, True, 128),  # 50 % overlap: every chunk's length leaves its last samples almost unweighted
        (30000, 1, 0.5, False, 128),  # the same, the identity
    ],
)
def test_chunks_equal_the_whole_file(tmp_path, recording, samples, channels, chunk_seconds, gain, hop_length):
    source = recording(samples, channels)
    model = make_model(channels, gain, hop_length)
    target = process_file(
        model, source, tmp_path / "out.wav", chunk_seconds=chunk_seconds, overlap_seconds=0.1, verbose=0
    )
    result, rate = soundfile.read(target, dtype="float32", always_2d=True)
    assert rate == RATE and soundfile.info(target).subtype == "FLOAT"
    expected = whole_file(model, source)
    assert_exact(result, expected, 1e-4)
    if not gain:
        assert_exact(result, soundfile.read(source, dtype="float32", always_2d=True)[0], 1e-4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.wav", "source.wav"]


def test_flac_target_is_24_bit_for_a_float_source(tmp_path, recording):
    source = recording(30000, 2)
    model = make_model(2)
    process_file(model, source, tmp_path / "out.flac", chunk_seconds=0.4, overlap_seconds=0.1, verbose=0)
    info = soundfile.info(tmp_path / "out.flac")
    assert (info.format, info.subtype, info.frames, info.channels) == ("FLAC", "PCM_24", 30000, 2)
    result = soundfile.read(tmp_path / "out.flac", dtype="float32")[0]
    np.testing.assert_allclose(result, whole_file(model, source), atol=2**-23 + 1e-6)  # 24-bit steps
    process_file(
        model, source, tmp_path / "out16.flac", chunk_seconds=0.4, overlap_seconds=0.1, subtype="PCM_16", verbose=0
    )
    assert soundfile.info(tmp_path / "out16.flac").subtype == "PCM_16"


def test_real_recording_keeps_its_subtype_and_shows_progress(tmp_path, capsys):
    source = DATA / "voice_stereo_16bit_44k.wav"
    model = make_model(2)
    process_file(model, source, tmp_path / "out.wav", chunk_seconds=1.0, overlap_seconds=0.2)
    assert "chunk" in capsys.readouterr().out
    info = soundfile.info(tmp_path / "out.wav")
    assert (info.subtype, info.samplerate, info.frames) == ("PCM_16", 44100, soundfile.info(source).frames)
    result = soundfile.read(tmp_path / "out.wav", dtype="float32")[0]
    np.testing.assert_allclose(result, whole_file(model, source), atol=1.5 / 2**15)  # 16-bit steps


def test_model_from_a_keras_file_quietly(tmp_path, recording, capsys):
    source = recording(20000, 2)
    make_model(2, gain=False).save(tmp_path / "identity.keras")
    process_file(
        tmp_path / "identity.keras", source, tmp_path / "out.wav", chunk_seconds=0.5, overlap_seconds=0.1, verbose=0
    )
    assert_exact(
        soundfile.read(tmp_path / "out.wav", dtype="float32")[0], soundfile.read(source, dtype="float32")[0], 1e-4
    )
    process_file(tmp_path / "identity.keras", source, tmp_path / "one.wav", chunk_seconds=2.0, overlap_seconds=0.1)
    assert capsys.readouterr().out == ""  # verbose=0, or a single chunk


def test_bad_sources_and_targets_leave_nothing(tmp_path, recording):
    (tmp_path / "in").mkdir()
    out = tmp_path / "out"
    out.mkdir()
    mono = recording(8000, 1, name="in/mono.wav")
    (tmp_path / "in" / "text.wav").write_text("not audio")
    (tmp_path / "in" / "empty.wav").write_bytes(b"")
    model = make_model(2)
    with pytest.raises(FileNotFoundError, match="missing.wav: no such audio file"):
        process_file(model, tmp_path / "in" / "missing.wav", out / "x.wav")
    with pytest.raises(ValueError, match="text.wav: not an audio file"):
        process_file(model, tmp_path / "in" / "text.wav", out / "x.wav")
    with pytest.raises(ValueError, match="empty.wav"):
        process_file(model, tmp_path / "in" / "empty.wav", out / "x.wav")
    with pytest.raises(ValueError, match=r"mono.wav has 1 channel\(s\), but the model takes 2"):
        process_file(model, mono, out / "x.wav")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        process_file(make_model(1), mono, tmp_path / "nowhere" / "x.wav")
    with pytest.raises(ValueError, match=r"x.mp3: the target must end in .wav or .flac"):
        process_file(make_model(1), mono, out / "x.mp3")
    with pytest.raises(ValueError, match="subtype 'FLOAT'"):
        process_file(make_model(1), mono, out / "x.flac", subtype="FLOAT")
    assert list(out.iterdir()) == []
    assert not (tmp_path / "nowhere").exists()


def test_an_error_midway_leaves_the_old_target_and_no_temporary(tmp_path, recording, monkeypatch):
    source = recording(30000, 1)
    target = tmp_path / "out.wav"
    target.write_bytes(b"old")
    calls = []

    def failing(file, start, stop):
        calls.append(start)
        if len(calls) == 3:
            raise OSError("disk gone")
        return read(file, start, stop)

    read = audio_io.read_frames
    monkeypatch.setattr(audio_io, "read_frames", failing)
    with pytest.raises(OSError, match="disk gone"):
        process_file(make_model(1), source, target, chunk_seconds=0.4, overlap_seconds=0.1, verbose=0)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.wav", "source.wav"]


def test_chunk_and_overlap_are_checked(tmp_path, recording):
    source = recording(8000, 1)
    model = make_model(1)
    with pytest.raises(ValueError, match=r"too short for the model's STFT.*n_fft \+ hop_length = 320 samples"):
        process_file(model, source, tmp_path / "x.wav", chunk_seconds=1.0, overlap_seconds=0.05)
    with pytest.raises(ValueError, match="less than chunk_seconds"):
        process_file(model, source, tmp_path / "x.wav", chunk_seconds=0.1, overlap_seconds=0.1)
    with pytest.raises(ValueError, match="less than one sample"):
        process_file(model, source, tmp_path / "x.wav", chunk_seconds=0.0)
    with pytest.raises(ValueError, match="at least the STFT hop, 64 samples"):
        process_file(model, source, tmp_path / "x.wav", chunk_seconds=0.102, overlap_seconds=0.1)
    assert [p.name for p in tmp_path.iterdir()] == ["source.wav"]
    # without an STFT inside, any overlap will do, even none
    pointwise = keras.Sequential([keras.Input((None, 1)), keras.layers.Rescaling(0.5)])
    process_file(pointwise, source, tmp_path / "half.wav", chunk_seconds=0.03, overlap_seconds=0.0, verbose=0)
    assert_exact(soundfile.read(tmp_path / "half.wav")[0], 0.5 * soundfile.read(source)[0], 1e-5)


def _leaves_only(folder, *names):
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)


def test_every_chunk_runs_with_one_shape(tmp_path, recording, monkeypatch):
    source = recording(37001, 2)
    model = make_model(2)
    shapes, predict = [], model.predict_on_batch
    monkeypatch.setattr(model, "predict_on_batch", lambda x: shapes.append(x.shape) or predict(x))
    handler = signal.getsignal(signal.SIGTERM)
    process_file(model, source, tmp_path / "out.wav", chunk_seconds=0.37, overlap_seconds=0.1, verbose=0)
    assert signal.getsignal(signal.SIGTERM) is handler  # the SIGTERM handler of process_file is gone again
    assert len(shapes) > 3 and set(shapes) == {shapes[0]}, shapes
    assert_exact(soundfile.read(tmp_path / "out.wav", dtype="float32")[0], whole_file(model, source), 1e-4)


def test_the_demo_network_runs_over_files_of_any_length(tmp_path, recording):
    """Under TensorFlow, predict on a third shape broke the demo's Dense across bins (Tensordot/Reshape).

    Files longer than a chunk all run at the chunk's length, so one model serves them all.
    """
    from keras_spectro.cli.demo import denoiser

    model = keras.Sequential(
        [keras.Input((None, 2)), ks.SpectrogramDomain([ks.STFTSplit(n_fft=256, hop_length=64)], denoiser(129, 4))]
    )
    for samples in (37001, 30500, 20001):
        source = recording(samples, 2, name=f"in{samples}.wav")
        process_file(model, source, tmp_path / f"out{samples}.wav", chunk_seconds=1.0, overlap_seconds=0.1, verbose=0)
        assert soundfile.info(tmp_path / f"out{samples}.wav").frames == samples


class Gain(keras.layers.Layer):
    def __init__(self, gain, **kwargs):
        super().__init__(**kwargs)
        self.gain = gain

    def call(self, waves):
        return waves * self.gain


@pytest.mark.parametrize("target", ["out.wav", "out.flac", "float.wav"])
def test_nan_or_inf_output_is_an_error_and_leaves_nothing(tmp_path, recording, target):
    source = recording(20000, 1, subtype="PCM_16")
    for gain in (float("nan"), float("inf")):
        model = keras.Sequential([keras.Input((None, 1)), Gain(gain)])
        with pytest.raises(ValueError, match="output holds 20000 NaN or inf samples; nothing was written"):
            process_file(
                model, source, tmp_path / target, subtype="FLOAT" if target == "float.wav" else None, verbose=0
            )
        _leaves_only(tmp_path, "source.wav")


def test_output_beyond_one_is_refused_or_clipped_as_asked(tmp_path, recording):
    source = recording(20000, 1, subtype="PCM_16")
    wave = soundfile.read(source, dtype="float32")[0]
    model = keras.Sequential([keras.Input((None, 1)), Gain(4.0)])
    peak = 4 * np.abs(wave).max()
    at = np.abs(wave).argmax() / RATE
    for target in ("out.wav", "out.flac"):  # one chunk: the peak of the file, and where
        with pytest.raises(
            ValueError,
            match=rf"output reaches {peak:.4g} at {at:.3f} s, beyond the \[-1, 1\] that PCM_(16|24) holds.*clip=True",
        ):
            process_file(model, source, tmp_path / target, verbose=0)
        _leaves_only(tmp_path, "source.wav")
    with pytest.warns(
        UserWarning, match=rf"{np.count_nonzero(np.abs(4 * wave) > 1)} samples outside \[-1, 1\] were clipped"
    ):
        process_file(
            model, source, tmp_path / "clipped.flac", chunk_seconds=0.4, overlap_seconds=0, verbose=0, clip=True
        )
    np.testing.assert_allclose(
        soundfile.read(tmp_path / "clipped.flac", dtype="float32")[0], np.clip(4 * wave, -1, 1), atol=1e-4
    )
    process_file(model, source, tmp_path / "float.wav", subtype="FLOAT", verbose=0)  # FLOAT keeps the values
    np.testing.assert_allclose(soundfile.read(tmp_path / "float.wav", dtype="float32")[0], 4 * wave, rtol=1e-6)


def test_the_target_is_never_the_source(tmp_path, recording):
    source = recording(20000, 1)
    before = source.read_bytes()
    (tmp_path / "link.wav").symlink_to(source)
    for target in (source, tmp_path / "link.wav", tmp_path / "." / "source.wav"):
        with pytest.raises(ValueError, match="is the source recording itself"):
            process_file(make_model(1), source, target, verbose=0)
    assert source.read_bytes() == before
    _leaves_only(tmp_path, "source.wav", "link.wav")


@pytest.mark.parametrize("fmt, subtype", [("MP3", "MPEG_LAYER_III"), ("OGG", "VORBIS")])
def test_a_compressed_source_gives_a_pcm_24_target(tmp_path, recording, fmt, subtype):
    source = recording(20000, 1, name=f"source.{fmt.lower()}", subtype=subtype)
    model = make_model(1, gain=False)
    calls, predict = [], model.predict_on_batch
    model.predict_on_batch = lambda x: calls.append(1) or predict(x)
    process_file(model, source, tmp_path / "out.wav", chunk_seconds=0.4, overlap_seconds=0.1, verbose=0)
    assert (
        soundfile.info(tmp_path / "out.wav").subtype == "PCM_24"
        and soundfile.info(tmp_path / "out.wav").frames == 20000
    )
    calls.clear()
    with pytest.raises(ValueError, match=r"out2.wav: WAV files cannot hold subtype 'MPEG_LAYER_III'") as error:
        process_file(model, source, tmp_path / "out2.wav", subtype="MPEG_LAYER_III", verbose=0)
    assert ".tmp" not in str(error.value) and calls == []  # refused before the model runs
    _leaves_only(tmp_path, f"source.{fmt.lower()}", "out.wav")


def identity(channels, sample_rate):
    pipeline = ks.SpectrogramPipeline([ks.STFTSplit(n_fft=256)], sample_rate=sample_rate)
    return keras.Sequential([keras.Input((None, channels)), ks.SpectrogramDomain(pipeline)])


def test_a_model_that_knows_its_rate_refuses_or_resamples_the_recording(tmp_path):
    rate, samples = 22050, 50001
    t = np.arange(samples)[:, None] / rate
    wave = (0.3 * np.sin(2 * np.pi * np.array([440.0, 3000.0]) * t) * np.hanning(samples)[:, None]).astype("float32")
    soundfile.write(tmp_path / "source.wav", wave, rate, subtype="FLOAT")
    model = identity(2, 16000)
    with pytest.raises(ValueError, match="sample rate 22050 Hz, but the model was made for 16000 Hz.*resample=True"):
        process_file(model, tmp_path / "source.wav", tmp_path / "out.wav", verbose=0)
    _leaves_only(tmp_path, "source.wav")
    process_file(
        model,
        tmp_path / "source.wav",
        tmp_path / "out.wav",
        chunk_seconds=0.5,
        overlap_seconds=0.1,
        verbose=0,
        resample=True,
    )
    result, out_rate = soundfile.read(tmp_path / "out.wav", dtype="float32", always_2d=True)
    assert out_rate == rate and result.shape == wave.shape and soundfile.info(tmp_path / "out.wav").subtype == "FLOAT"
    assert_exact(result, wave, 1e-5)  # measured: 1.1e-6 of the peak (two soxr "HQ" conversions, tones below 8 kHz)
    # in chunks as in one piece: the conversions are streamed exactly
    process_file(model, tmp_path / "source.wav", tmp_path / "one.wav", chunk_seconds=5.0, verbose=0, resample=True)
    assert_exact(result, soundfile.read(tmp_path / "one.wav", dtype="float32")[0], 1e-5)
    # a model whose rate is unknown runs as before, and one at the file's rate needs no resampling
    for sample_rate in (None, rate):
        process_file(
            identity(2, sample_rate),
            tmp_path / "source.wav",
            tmp_path / "same.wav",
            chunk_seconds=0.5,
            overlap_seconds=0.1,
            verbose=0,
        )
        assert_exact(soundfile.read(tmp_path / "same.wav", dtype="float32")[0], wave, 1e-5)


def test_a_model_holding_audio_padding_is_refused(tmp_path, recording):
    source = recording(20000, 1)
    model = keras.Sequential(
        [keras.Input((None, 1)), ks.SpectrogramDomain([ks.AudioPadding(8000), ks.STFTSplit(n_fft=256)])]
    )
    with pytest.raises(ValueError, match=r"AudioPadding\(length=8000\).*cannot run it piece by piece"):
        process_file(model, source, tmp_path / "out.wav", verbose=0)
    _leaves_only(tmp_path, "source.wav")


def test_a_channels_first_model_runs_over_the_file(tmp_path, recording):
    source = recording(37001, 2)
    domain = ks.SpectrogramDomain([ks.STFTSplit(n_fft=256, data_format="channels_first")], data_format="channels_first")
    model = keras.Sequential([keras.Input((2, None)), domain])
    process_file(model, source, tmp_path / "out.wav", chunk_seconds=0.5, overlap_seconds=0.1, verbose=0)
    wave = soundfile.read(source, dtype="float32")[0]
    assert_exact(soundfile.read(tmp_path / "out.wav", dtype="float32")[0], wave, 1e-4)
    with pytest.raises(ValueError, match=r"source.wav has 2 channel\(s\), but the model takes 1"):
        process_file(
            keras.Sequential([keras.Input((1, None)), domain.__class__.from_config(domain.get_config())]),
            source,
            tmp_path / "x.wav",
        )


@pytest.mark.parametrize("samples", [60 * 128 + 9, 60 * 128 + 100, 60 * 128 + 120, 60 * 128 + 127])
def test_50_percent_overlap_chunks_end_with_the_frames_of_the_whole_file(tmp_path, recording, samples):
    """The domain adds a frame to poorly covered lengths (a chunk's, 127 past a multiple of the hop, and some files'):
    the last chunk must end with the whole file's frames, else its last samples differ (by 0.1 with this network)."""
    keras.utils.set_random_seed(3)
    network = keras.Sequential([keras.Input((129, None, 2)), keras.layers.Conv2D(2, 3, padding="same")])
    domain = ks.SpectrogramDomain([ks.STFTSplit(n_fft=256, hop_length=128)], network)
    model = keras.Sequential([keras.Input((None, 1)), domain])
    source = recording(samples, 1)
    process_file(model, source, tmp_path / "out.wav", chunk_seconds=0.2, overlap_seconds=0.1, verbose=0)
    assert_exact(soundfile.read(tmp_path / "out.wav", dtype="float32", always_2d=True)[0], whole_file(model, source))

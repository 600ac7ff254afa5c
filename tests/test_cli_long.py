"""`keras-spectro apply` and `keras-spectro show` on recordings of any length (issue 8)."""

import signal
import subprocess
import sys

import keras
import numpy as np
import pytest
import soundfile
from test_cli_and_examples import _cli

import keras_spectro as ks
from keras_spectro.cli import main, overview
from keras_spectro.utils import magnitudes

from conftest import DATA

VOICE = DATA / "voice_stereo_16bit_44k.wav"


@pytest.fixture
def files(tmp_path):
    """A one-second stereo PCM_16 recording and a saved STFT + scaler model: an exact round trip."""
    wave, rate = soundfile.read(VOICE, dtype="float32", frames=44100, always_2d=True)
    soundfile.write(tmp_path / "source.wav", wave, rate, subtype="PCM_16")
    pipeline = ks.SpectrogramPipeline(
        [ks.STFTSplit(n_fft=256, hop_length=64), ks.SpectrogramScaler("standard", axis="channels")]
    )
    pipeline.adapt(wave[None])
    keras.Sequential([keras.Input((None, 2)), ks.SpectrogramDomain(pipeline)]).save(tmp_path / "model.keras")
    return tmp_path / "model.keras", tmp_path / "source.wav"


def test_apply_runs_the_model_over_the_file_in_chunks(tmp_path, files):
    model, source = files
    args = ["apply", str(model), str(source), "-o", "out.wav", "--chunk-seconds", "0.3", "--overlap-seconds", "0.1"]
    status, out, err, _ = _cli(args, tmp_path)
    assert status == 0 and err == "", err
    assert out.startswith("Wrote out.wav: 1.0 s, 2 channel(s) at 44100 Hz, PCM_16, in ") and out.count("\n") == 1, out
    original, _ = soundfile.read(source, dtype="float32")
    result, rate = soundfile.read(tmp_path / "out.wav", dtype="float32")
    assert rate == 44100 and result.shape == original.shape
    assert np.abs(result - original).max() <= 1 / 32768  # one step of PCM_16 at most
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.keras", "out.wav", "source.wav"]


def test_apply_errors_name_the_file_and_leave_nothing(tmp_path, files, capsys):
    model, source = files
    (tmp_path / "text.wav").write_text("not audio")
    (tmp_path / "empty.wav").write_bytes(b"")
    soundfile.write(tmp_path / "silent.wav", np.zeros((0, 2)), 44100)
    (tmp_path / "text.keras").write_text("not a model")
    before = sorted(tmp_path.iterdir())
    cases = [
        ([str(tmp_path / "nope.keras"), str(source), "-o", str(tmp_path / "a.wav")], "nope.keras: no such model file"),
        (
            [str(tmp_path / "text.keras"), str(source), "-o", str(tmp_path / "a.wav")],
            "text.keras: not a Keras model that loads",
        ),
        ([str(model), str(tmp_path / "nope.wav"), "-o", str(tmp_path / "a.wav")], "nope.wav: no such audio file"),
        ([str(model), str(tmp_path / "text.wav"), "-o", str(tmp_path / "a.wav")], "text.wav: not an audio file"),
        ([str(model), str(tmp_path / "empty.wav"), "-o", str(tmp_path / "a.wav")], "empty.wav: not an audio file"),
        (
            [str(model), str(tmp_path / "silent.wav"), "-o", str(tmp_path / "a.wav")],
            "silent.wav: the file holds no samples",
        ),
        (
            [str(model), str(source), "-o", str(tmp_path / "missing" / "a.wav")],
            f"a.wav: the folder {tmp_path / 'missing'} does not exist",
        ),
        ([str(model), str(source), "-o", str(tmp_path / "a.mp3")], "a.mp3: the target must end in .wav or .flac"),
        (
            [str(model), str(source), "-o", str(tmp_path / "a.flac"), "--subtype", "FLOAT"],
            "FLAC files cannot hold subtype 'FLOAT'",
        ),
        (
            [str(model), str(source), "-o", str(tmp_path / "a.wav"), "--overlap-seconds", "0.01"],
            "overlap_seconds=0.01 is too short",
        ),
    ]
    for args, says in cases:
        assert main(["apply", *args]) == 1
        captured = capsys.readouterr()
        assert (
            captured.out == "" and captured.err.startswith("keras-spectro: error: ") and captured.err.count("\n") == 1
        ), captured
        assert says in captured.err, (says, captured.err)
        assert sorted(tmp_path.iterdir()) == before


def test_show_draws_a_part(tmp_path, capsys):
    out = tmp_path / "part.png"
    assert main(["show", str(VOICE), "--start", "1", "--duration", "1.5", "--top-db", "60", "-o", str(out)]) == 0
    assert capsys.readouterr().out == f"Wrote {out}\n" and out.stat().st_size > 10_000
    for args, says in (
        (["--start", "4.5"], "start 4.5 s is not inside the file (4.241 s long)"),
        (["--start", "3", "--duration", "2"], "start 3 s + duration 2 s runs past the end of the file (4.241 s long)"),
        (["--duration", "1e-6"], "duration 1e-06 s is less than one sample at 44100 Hz"),
    ):
        assert main(["show", str(VOICE), "-o", str(tmp_path / "bad.png"), *args]) == 1
        err = capsys.readouterr().err
        assert err.startswith("keras-spectro: error: ") and err.count("\n") == 1 and says in err, err
    assert not (tmp_path / "bad.png").exists()
    with pytest.raises(SystemExit) as exit:
        main(["show", str(VOICE), "--start", "-1"])
    err = capsys.readouterr().err
    assert (
        exit.value.code == 1
        and err.count("\n") == 1
        and "argument --start: must be a non-negative number of seconds; got '-1'" in err
    ), err


@pytest.mark.parametrize(
    "n_fft, hop, first, stop, columns, chunk",
    [
        (256, 64, 0, 73441, 2000, 300),  # every frame its own column, in chunks of 300 frames
        (255, 64, 1000, 20001, 50, 100),  # odd n_fft, a part, 7 frames a column across chunk edges
        (512, 100, 5, 300, 7, 3),  # a part shorter than n_fft
    ],
)
def test_show_pools_the_same_spectrogram_and_envelope_as_the_whole_part(n_fft, hop, first, stop, columns, chunk):
    path = DATA / "voice_mono_22k.wav"
    with soundfile.SoundFile(path) as file:
        power, per = overview.spectrogram(file, first, stop, n_fft, hop, columns=columns, chunk_frames=chunk)
        low, high, step = overview.envelope(file, first, stop, columns=columns, chunk_samples=1000)
    wave = ks.audio.load_audio(path)[first:stop]
    whole = (
        magnitudes(ks.STFTSplit(n_fft=n_fft, hop_length=hop)(wave[None])[0]).transpose(1, 0, 2) ** 2
    )  # (frames, bins, 1)
    assert len(power) <= columns and len(low) <= columns and per == -(-len(whole) // columns)
    pooled = [whole[c : c + per].mean(axis=0) for c in range(0, len(whole), per)]
    np.testing.assert_allclose(power, pooled, rtol=1e-5, atol=1e-9 * whole.max())
    np.testing.assert_array_equal(low, [wave[s : s + step].min(axis=0) for s in range(0, len(wave), step)])
    np.testing.assert_array_equal(high, [wave[s : s + step].max(axis=0) for s in range(0, len(wave), step)])


SLOW_APPLY = """
import sys, time
from keras_spectro import audio_io
read = audio_io.read_frames
def slow(*args):
    print("chunk", flush=True)
    time.sleep(0.5)
    return read(*args)
audio_io.read_frames = slow
from keras_spectro.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize(
    "signum, status, says", [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")]
)
def test_an_interrupted_apply_leaves_nothing_behind(tmp_path, files, signum, status, says):
    model, source = files
    args = [
        sys.executable,
        "-c",
        SLOW_APPLY,
        "apply",
        str(model),
        str(source),
        "-o",
        "out.wav",
        "--chunk-seconds",
        "0.2",
        "--overlap-seconds",
        "0.1",
    ]
    child = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert child.stdout.readline() == "chunk\n"
    assert child.stdout.readline() == "chunk\n"  # the temporary file exists and holds the first chunk
    assert any(p.name.endswith(".tmp") for p in tmp_path.iterdir())
    child.send_signal(signum)
    out, err = child.communicate(timeout=60)
    assert child.returncode == status and err.endswith(
        f"\nkeras-spectro: {says}\n" if "\n" in err[:-1] else f"keras-spectro: {says}\n"
    ), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.keras", "source.wav"]


def test_apply_refuses_the_source_as_target_another_rate_and_values_beyond_one(tmp_path, files, capsys):
    model, source = files
    before = source.read_bytes()
    assert main(["apply", str(model), str(source), "-o", str(source)]) == 1
    assert "source.wav: is the source recording itself" in capsys.readouterr().err and source.read_bytes() == before
    wave = soundfile.read(source, dtype="float32")[0]
    pipeline = ks.SpectrogramPipeline([ks.STFTSplit(n_fft=256, hop_length=64)], sample_rate=22050)
    keras.Sequential([keras.Input((None, 2)), ks.SpectrogramDomain(pipeline)]).save(tmp_path / "m22k.keras")
    assert main(["apply", str(tmp_path / "m22k.keras"), str(source), "-o", str(tmp_path / "a.wav")]) == 1
    err = capsys.readouterr().err
    assert (
        err.count("\n") == 1
        and "sample rate 44100 Hz, but the model was made for 22050 Hz" in err
        and "--resample" in err
    ), err
    assert main(["apply", str(tmp_path / "m22k.keras"), str(source), "-o", str(tmp_path / "a.wav"), "--resample"]) == 0
    assert "at 44100 Hz, PCM_16" in capsys.readouterr().out and soundfile.info(tmp_path / "a.wav").frames == len(wave)
    keras.Sequential([keras.Input((None, 2)), keras.layers.Rescaling(20.0)]).save(tmp_path / "loud.keras")
    assert main(["apply", str(tmp_path / "loud.keras"), str(source), "-o", str(tmp_path / "b.wav")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "beyond the [-1, 1] that PCM_16 holds" in err and "--clip" in err, err
    assert main(["apply", str(tmp_path / "loud.keras"), str(source), "-o", str(tmp_path / "b.wav"), "--clip"]) == 0
    captured = capsys.readouterr()
    assert (
        captured.err.startswith("keras-spectro: warning: ")
        and captured.err.count("\n") == 1
        and "were clipped" in captured.err
    ), captured.err
    assert np.abs(soundfile.read(tmp_path / "b.wav")[0]).max() == 1.0

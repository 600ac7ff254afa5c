import argparse
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from keras_spectro.cli import main, parser

from conftest import DATA

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_show_writes_one_figure_with_every_channel(tmp_path, capsys):
    out = tmp_path / "voice.png"
    assert (
        main(["show", str(DATA / "voice_stereo_24bit_44k.wav"), "-o", str(out), "--n-fft", "1024", "--hop", "256"]) == 0
    )
    assert out.stat().st_size > 10_000 and f"Wrote {out}" in capsys.readouterr().out


def test_roundtrip_reports_the_error_and_writes_the_audio(tmp_path, capsys):
    out = tmp_path / "back.wav"
    assert main(["roundtrip", str(DATA / "voice_mono_22k.wav"), "-o", str(out), "--representation", "mag_phase"]) == 0
    printed = capsys.readouterr().out
    error = float(printed.split("max abs error ")[1].split()[0])
    assert error < 1e-5
    original, rate = soundfile.read(DATA / "voice_mono_22k.wav", dtype="float32", always_2d=True)
    back, back_rate = soundfile.read(out, dtype="float32", always_2d=True)
    assert back_rate == rate and back.shape == original.shape
    assert np.abs(back - original).max() < 1e-5


def test_errors_are_one_line_and_a_non_zero_exit(tmp_path, capsys):
    assert main(["roundtrip", str(tmp_path / "nope.wav")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("keras-spectro: error: ") and "nope.wav" in err and err.count("\n") == 1
    (tmp_path / "bad.wav").write_text("not audio")
    assert main(["show", str(tmp_path / "bad.wav"), "-o", str(tmp_path / "x.png")]) == 1
    assert "bad.wav: not an audio file" in capsys.readouterr().err
    assert (
        main(
            [
                "roundtrip",
                str(DATA / "voice_mono_22k.wav"),
                "--n-fft",
                "256",
                "--hop",
                "256",
                "-o",
                str(tmp_path / "y.wav"),
            ]
        )
        == 1
    )
    assert "too large" in capsys.readouterr().err
    assert not (tmp_path / "y.wav").exists()


def test_roundtrip_writes_flac_for_a_flac_name(tmp_path, capsys):
    out = tmp_path / "back.flac"
    assert main(["roundtrip", str(DATA / "voice_mono_22k.wav"), "-o", str(out), "--n-fft", "512", "--hop", "256"]) == 0
    assert (soundfile.info(out).format, soundfile.info(out).subtype) == ("FLAC", "PCM_24")
    original, _ = soundfile.read(DATA / "voice_mono_22k.wav", dtype="float32", always_2d=True)
    assert np.abs(soundfile.read(out, dtype="float32", always_2d=True)[0] - original).max() < 1e-5  # 24 bits


def test_resample_without_soxr_is_one_line(tmp_path):
    import keras

    import keras_spectro as ks

    pipeline = ks.SpectrogramPipeline([ks.STFTSplit(n_fft=256)], sample_rate=16000)
    keras.Sequential([keras.Input((None, 1)), ks.SpectrogramDomain(pipeline)]).save(tmp_path / "m16k.keras")
    args = ["apply", str(tmp_path / "m16k.keras"), VOICE, "-o", str(tmp_path / "out.wav"), "--resample"]
    code = f"import sys; sys.modules['soxr'] = None; from keras_spectro.cli import main; sys.exit(main({args!r}))"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}  # as `keras-spectro` sets it before TensorFlow loads
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env
    )
    ours = [line for line in run.stderr.splitlines() if "keras-spectro" in line]  # TensorFlow may log besides
    assert run.returncode == 1 and "Traceback" not in run.stderr and len(ours) == 1, run.stderr
    assert ours[0].startswith("keras-spectro: error: ") and 'pip install "keras_spectro[resample]"' in ours[0]
    assert not (tmp_path / "out.wav").exists()


def test_hop_defaults_to_a_quarter_of_n_fft_and_help_says_so(tmp_path, capsys):
    assert main(["roundtrip", str(DATA / "voice_mono_22k.wav"), "--n-fft", "256", "-o", str(tmp_path / "r.wav")]) == 0
    assert f"images (1, 129, {1 + 73441 // 64}, 2)" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit:
        main(["show", "--help"])
    assert exit.value.code == 0
    printed = " ".join(capsys.readouterr().out.split())
    assert "(default: n_fft // 4)" in printed and "in the current directory, named after the input" in printed


def _cli(args, cwd):
    """`python -m keras_spectro ...` as a user runs it: TF_CPP_MIN_LOG_LEVEL unset, so the command must set it."""
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    command = [sys.executable, "-X", "importtime", "-m", "keras_spectro", *args]
    run = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=600, env={**env, "MPLBACKEND": "Agg"}
    )
    imported = re.findall(r"^import time:.*\| +(\S+)$", run.stderr, re.M)
    return run.returncode, run.stdout, "".join(re.split(r"^import time:.*\n", run.stderr, flags=re.M)), imported


VOICE = str(DATA / "voice_mono_22k.wav")


BACKENDS = {"keras", "tensorflow", "torch", "jax"}


@pytest.mark.parametrize(
    "args, says, loads_keras",
    [
        # a text file named .wav: before Keras and the backend load, for every command that reads audio
        (["show", "x.wav"], "x.wav: not an audio file", False),
        (["roundtrip", "x.wav"], "x.wav: not an audio file", False),
        (["apply", VOICE, "x.wav", "-o", "y.wav"], "x.wav: not an audio file", False),
        (["roundtrip", VOICE, "-o", "y.mp3"], "y.mp3: the target must end in .wav or .flac", False),
        (["roundtrip", "missing.wav"], "missing.wav: no such audio file", False),
        (["show", VOICE, "--hop", "0"], "argument --hop: must be a positive integer; got '0'", False),
        (["roundtrip", VOICE, "--n-fft", "0"], "argument --n-fft: must be a positive integer; got '0'", False),
        (["show", VOICE, "--n-fft", "abc"], "argument --n-fft: must be a positive integer; got 'abc'", False),
        (
            ["show", VOICE, "--start", "3", "--duration", "1"],
            "voice_mono_22k.wav: start 3 s + duration 1 s runs past the end of the file (3.331 s long)",
            True,
        ),
        (["apply", "model.keras", "x.wav", "-o", "y.wav"], "model.keras: no such model file", False),
        (
            ["apply", str(DATA / "voice_mono_22k.wav"), "missing.wav", "-o", "y.wav"],
            "missing.wav: no such audio file",
            False,
        ),
    ],
)
def test_command_line_errors_are_one_line_and_exit_1(args, says, loads_keras, tmp_path):
    (tmp_path / "x.wav").write_text("some text, not audio")
    status, out, err, imported = _cli(args, tmp_path)
    assert (status, out) == (1, "") and err.startswith("keras-spectro: error: ") and err.count("\n") == 1, err
    assert says in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.wav"]
    # argument errors and missing files are reported before Keras and the backend load (seconds)
    assert bool({name.split(".")[0] for name in imported} & BACKENDS) == loads_keras


def test_show_with_a_small_n_fft_writes_a_png_named_after_the_input(tmp_path):
    status, out, err, _ = _cli(["show", VOICE, "--n-fft", "256"], tmp_path)
    assert status == 0, err
    assert out == "Wrote voice_mono_22k.png\n" and (tmp_path / "voice_mono_22k.png").stat().st_size > 10_000


@pytest.mark.parametrize("args", [["--help"], ["show", "--help"], ["demo", "--help"]])
def test_help_imports_no_keras(args, tmp_path):
    status, out, err, imported = _cli(args, tmp_path)
    assert status == 0 and out.startswith("usage: keras-spectro") and err == ""
    assert imported and not {name.split(".")[0] for name in imported} & BACKENDS


def test_the_installed_command_shows_help_without_keras(tmp_path):
    script = pathlib.Path(sys.executable).with_name("keras-spectro")
    if not script.exists():
        pytest.skip("keras-spectro is not installed next to this Python")
    run = subprocess.run(
        [str(script), "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"},
    )
    imported = re.findall(r"^import time:.*\| +(\S+)$", run.stderr, re.M)
    assert run.returncode == 0 and run.stdout.startswith("usage: keras-spectro")
    assert imported and not {name.split(".")[0] for name in imported} & BACKENDS


def test_every_option_has_help_text():
    commands = next(action for action in parser()._actions if isinstance(action, argparse._SubParsersAction))
    for name, command in commands.choices.items():
        for action in command._actions:
            assert action.help, f"keras-spectro {name} {action.dest}: no help text"


def _run(args, cwd, quiet=True):
    """Runs python with `args`; it must succeed, and with `quiet` print no warning."""
    run = subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert not quiet or "Warning" not in run.stderr, run.stderr[-3000:]
    return run.stdout


def test_demo_trains_saves_loads_and_writes(tmp_path):
    out = _run(["-m", "keras_spectro", "demo", "-o", str(tmp_path / "demo"), "--epochs", "2"], tmp_path)
    assert "SNR on a held-out clip" in out and "loaded it back" in out
    for name in ("noisy.wav", "denoised.wav", "clean.wav", "comparison.png", "denoiser.keras"):
        assert (tmp_path / "demo" / name).stat().st_size > 1000
        assert f"\n  {tmp_path / 'demo' / name} " in out  # the closing list of what it wrote, one line each
    assert (
        f"\n  {tmp_path / 'demo' / 'data'}{os.sep} " in out
        and len(list((tmp_path / "demo" / "data" / "noisy").glob("*.wav"))) == 48
    )
    error = float(out.split("max error ")[1].split()[0])
    assert error < 1e-5


@pytest.mark.parametrize(
    "script, expected",
    [
        ("quickstart.py", "max error"),
        ("denoise.py", "SNR noisy"),
        ("tf_data.py", "tf.data training"),
        ("torch_loop.py", "torch loop on cpu"),
        ("long_recording.py", "SNR over the whole recording"),
        ("separate.py", "SI-SDR mixture"),
    ],
)
def test_examples_run(script, expected, tmp_path):
    if script == "torch_loop.py":
        pytest.importorskip("torch")
    args = [str(ROOT / "examples" / script), "-o", str(tmp_path / "out"), "--quick"]
    assert expected in _run(args, tmp_path, quiet=script != "denoise.py")
    if script == "quickstart.py":
        assert (tmp_path / "out" / "quickstart.png").exists()
    if script == "separate.py":
        written = {"mixture", "estimate_0", "estimate_1", "reference_0", "reference_1"}
        lengths = {soundfile.info(tmp_path / "out" / f"{name}.wav").frames for name in written}
        assert len(lengths) == 1 and (tmp_path / "out" / "separate.png").exists()
    if script == "long_recording.py":
        assert (
            soundfile.info(tmp_path / "out" / "long_denoised.wav").frames
            == soundfile.info(tmp_path / "out" / "long_noisy.wav").frames
        )


def test_every_example_is_run_by_a_test():
    tests = "".join(path.read_text() for path in (ROOT / "tests").glob("test_*.py"))
    for example in sorted((ROOT / "examples").glob("[!_]*.py")):  # _pairs.py is a helper they import
        assert f'"{example.name}"' in tests or f'"{example.stem}"' in tests, f"no test runs examples/{example.name}"

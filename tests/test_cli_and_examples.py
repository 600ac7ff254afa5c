import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from conftest import DATA
from keras_spectro.cli import main

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_show_writes_one_figure_with_every_channel(tmp_path, capsys):
    out = tmp_path / "voice.png"
    assert main(["show", str(DATA / "voice_stereo_24bit_44k.wav"), "-o", str(out), "--n-fft", "1024", "--hop", "256"]) == 0
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
    assert main(["roundtrip", str(DATA / "voice_mono_22k.wav"), "--n-fft", "256", "--hop", "256", "-o", str(tmp_path / "y.wav")]) == 1
    assert "too large" in capsys.readouterr().err
    assert not (tmp_path / "y.wav").exists()


def _run(args, cwd):
    run = subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=600, env={**os.environ, "MPLBACKEND": "Agg"})
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout


def test_demo_trains_saves_loads_and_writes(tmp_path):
    out = _run(["-m", "keras_spectro", "demo", "-o", str(tmp_path / "demo"), "--epochs", "2"], tmp_path)
    assert "SNR on a held-out clip" in out and "loaded it back" in out
    for name in ("noisy.wav", "denoised.wav", "comparison.png", "denoiser.keras"):
        assert (tmp_path / "demo" / name).stat().st_size > 1000
    error = float(out.split("max error ")[1].split()[0])
    assert error < 1e-5


@pytest.mark.parametrize(
    "script, expected",
    [("quickstart.py", "max error"), ("denoise.py", "SNR noisy"), ("tf_data.py", "tf.data training"), ("torch_loop.py", "torch loop on cpu")],
)
def test_examples_run(script, expected, tmp_path):
    if script == "torch_loop.py":
        pytest.importorskip("torch")
    args = [str(ROOT / "examples" / script), "-o", str(tmp_path / "out")] + ([] if script == "quickstart.py" else ["--quick"])
    assert expected in _run(args, tmp_path)
    if script == "quickstart.py":
        assert (tmp_path / "out" / "quickstart.png").exists()

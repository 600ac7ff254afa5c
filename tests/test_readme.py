"""The README's example runs as pasted, from the repository's root, and prints what it says."""

import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _example(section="## Example"):
    text = (ROOT / "README.md").read_text()
    start = text.index("```python\n", text.index(section)) + len("```python\n")
    return text[start : text.index("\n```", start)]


def _run(section, cwd=None):
    """The README's example under `section`, run as pasted in a fresh Python."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, "-c", _example(section)], cwd=cwd, capture_output=True, text=True, timeout=600, env=env
    )


def test_the_functional_example_runs_as_pasted():
    run = _run("## Functions")
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip().splitlines()[-1] == "True"


def test_the_readme_example_runs_as_pasted(tmp_path):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "data").symlink_to(ROOT / "tests" / "data")  # as in a clone's root
    run = _run("## Example", tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip().splitlines()[-1] == "(1, 187009, 2)"  # the whole recording, as the comment says
    assert "Warning" not in run.stderr, run.stderr[-3000:]
    assert (tmp_path / "denoiser.keras").exists()


def test_the_separation_example_runs_as_pasted(tmp_path):
    run = _run("## Separation", tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip().splitlines()[-1] == "(1, 2, 8000, 1)"

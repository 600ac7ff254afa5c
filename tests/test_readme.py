"""The README is a short front door: its example runs as pasted, and it does not copy the site.

The site's own examples (functional API, separation) run here too, as pasted.
"""

import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _example(path, section):
    text = path.read_text()
    start = text.index("```python\n", text.index(section)) + len("```python\n")
    return text[start : text.index("\n```", start)]


def _run(path, section, cwd=None):
    """The example under `section` of `path`, run as pasted in a fresh Python."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, "-c", _example(path, section)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )


def _prose(text):
    """The text's paragraphs outside code blocks, tables and headings, whitespace collapsed."""
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    paragraphs = re.split(r"\n\s*\n", text)
    kept = (p for p in paragraphs if not p.lstrip().startswith(("|", "#", "---")))
    return [" ".join(p.split()) for p in kept]


def _sentences(text):
    return {s for p in _prose(text) for s in re.split(r"(?<=[.:;])\s+", p) if len(s) >= 60}


def test_the_readme_example_runs_as_pasted(tmp_path):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "data").symlink_to(ROOT / "tests" / "data")  # as in a clone's root
    run = _run(ROOT / "README.md", "## Example", tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip().splitlines()[-1] == "(1, 187009, 2)"  # the whole recording, as the comment says
    assert "Warning" not in run.stderr, run.stderr[-3000:]
    assert (tmp_path / "denoiser.keras").exists()


def test_the_functional_page_example_runs_as_pasted():
    run = _run(DOCS / "functional.md", "# Functional API")
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip().splitlines()[-1] == "True"


def test_the_separation_page_example_runs_as_pasted(tmp_path):
    run = _run(DOCS / "separation.md", "# Separation", tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip().splitlines()[-1] == "(1, 2, 8000, 1)"


def test_the_readme_is_short_and_copies_no_page():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 150, "the README leads to the site: keep the detail in docs/"
    copied = {
        page.relative_to(DOCS).as_posix(): sorted(_sentences(readme) & _sentences(page.read_text()))
        for page in DOCS.rglob("*.md")
    }
    copied = {page: sentences for page, sentences in copied.items() if sentences}
    assert not copied, f"the README and the site say the same thing twice; keep it in one place: {copied}"


def test_the_readme_links_resolve():
    readme = (ROOT / "README.md").read_text()
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme):
        if "://" not in target:
            assert (ROOT / target).exists(), f"the README links to {target}, which does not exist"

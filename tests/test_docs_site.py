"""The documentation site and the package metadata stay in step with the code (text checks only:
`tox -e docs` builds the site, `tox -e package` the wheel)."""

import ast
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _nav_pages():
    """The pages named in mkdocs.yml's nav (commented lines left out)."""
    lines = (ROOT / "mkdocs.yml").read_text().splitlines()
    return {
        m.group(1)
        for line in lines
        if not line.lstrip().startswith("#")
        for m in [re.search(r":\s*(\S+\.md)\s*$", line)]
        if m
    }


def test_every_page_is_in_the_nav_and_every_nav_entry_exists():
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    nav = _nav_pages()
    assert pages - nav == set(), "pages no reader can reach: add them to the nav of mkdocs.yml"
    assert nav - pages == set(), "nav entries without a page"


def test_the_home_page_example_is_the_readmes():
    def example(text):
        start = text.index("```python\n", text.index("## Example")) + len("```python\n")
        return text[start : text.index("\n```", start)]

    # the README's copy runs in tests/test_readme.py; the site's must be the same text
    assert example((DOCS / "index.md").read_text()) == example((ROOT / "README.md").read_text())


def test_every_public_module_has_an_api_page():
    public = ("audio", "distributed", "functional", "layers", "losses", "metrics", "streaming", "utils")
    for name in public:
        page = DOCS / "api" / f"{name}.md"
        assert page.exists() and f"::: keras_spectro.{name}" in page.read_text(), (
            f"no API page for keras_spectro.{name}"
        )


def test_the_version_is_set_once_and_read_statically():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject and 'version = {attr = "keras_spectro.__version__"}' in pyproject
    assert not re.search(r"^version\s*=", pyproject.split("[tool.setuptools.dynamic]")[0], re.M)
    # setuptools reads a literal assignment without importing the package (and so Keras)
    tree = ast.parse((ROOT / "keras_spectro" / "__init__.py").read_text())
    versions = [
        n.value.value
        for n in tree.body
        if isinstance(n, ast.Assign) and [t.id for t in n.targets if isinstance(t, ast.Name)] == ["__version__"]
    ]
    assert len(versions) == 1 and re.fullmatch(r"\d+\.\d+\.\d+", versions[0])
    assert f"## [{versions[0]}]" in (ROOT / "CHANGELOG.md").read_text(), "CHANGELOG.md has no section for this version"
    assert (ROOT / "keras_spectro" / "py.typed").exists()

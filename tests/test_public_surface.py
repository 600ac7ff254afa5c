"""The public surface: what `import keras_spectro` gives, and one public home per name.

The documented modules are attributes after `import keras_spectro` (Ray and matplotlib still
load only when used); each public module says what it exports in `__all__`, and no object is
exported by two of them (the layers at the top level mirror `keras_spectro.layers`).
"""

import inspect
import os
import subprocess
import sys

import keras_spectro as ks

from conftest import BACKEND

MODULES = ("audio", "distributed", "functional", "layers", "losses", "metrics", "streaming", "utils")


def test_every_documented_module_is_an_attribute_and_ray_and_matplotlib_load_only_when_used():
    code = (
        "import sys, keras; before = set(sys.modules); import keras_spectro as ks\n"
        f"print([name for name in {MODULES!r} if not hasattr(ks, name)], "
        "sorted({'ray', 'matplotlib'} & (set(sys.modules) - before)), callable(ks.clear_caches))"
    )
    env = {**os.environ, "KERAS_BACKEND": BACKEND, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True, timeout=300)
    assert out.stdout.strip().splitlines()[-1] == "[] [] True"


def test_each_public_module_lists_its_names_and_each_name_has_one_home():
    homes = {}
    for name in MODULES:
        module = getattr(ks, name)
        assert hasattr(module, "__all__"), f"keras_spectro.{name} has no __all__"
        assert len(set(module.__all__)) == len(module.__all__), f"keras_spectro.{name}.__all__ repeats a name"
        for exported in module.__all__:
            value = getattr(module, exported)  # an AttributeError names a stale entry
            assert inspect.getdoc(value), f"keras_spectro.{name}.{exported} has no docstring"
            homes.setdefault(id(value), []).append(f"keras_spectro.{name}.{exported}")
    shared = [where for where in homes.values() if len(where) > 1]
    assert not shared, f"exported from two public modules: {shared}"


def test_the_top_level_holds_the_layers_themselves():
    for name in ks.layers.__all__:
        assert getattr(ks, name) is getattr(ks.layers, name), name
    public = {name for name in vars(ks) if not name.startswith("_")}
    assert public - set(ks.layers.__all__) - set(MODULES) <= {"clear_caches"} | _package_modules(), public
    assert ks.__version__


def _package_modules():
    """Submodules that importing the public ones binds on the package (e.g. `keras_spectro.files`): not a public home."""
    return {name for name, value in vars(ks).items() if inspect.ismodule(value) and name not in MODULES}

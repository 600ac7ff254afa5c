"""Checks the built sdist and wheel (run by `tox -e package` after `python -m build`).

    python .ci/check_package.py DIST_DIR

1. `twine check --strict` on every file in DIST_DIR (the metadata and the README render on PyPI).
2. The wheel's file list: it must hold the package, `py.typed` and the license, and nothing else
   of the repository (no tests/, examples/, docs/, benchmarks/, no audio, pictures or models).
3. The wheel installs into a fresh virtual environment (no system site-packages, no repository
   on the path) with its own dependencies plus JAX, the smallest backend; from a temporary
   directory, `keras-spectro --help` answers and an STFT round trip is exact.

Prints the wheel's files and the time of each step; exits non-zero on the first failure.
"""

import glob
import os
import pathlib
import subprocess
import sys
import tempfile
import time
import venv
import zipfile

FORBIDDEN_DIRS = ("tests/", "examples/", "docs/", "benchmarks/", ".ci/")
DATA_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".png", ".jpg", ".keras", ".npy", ".npz", ".h5", ".onnx", ".tflite")
ROUND_TRIP = (
    "import keras_spectro as ks, numpy as np; "
    "x = np.random.rand(1, 4000, 2).astype('float32'); s = ks.STFTSplit(n_fft=256); "
    "error = float(abs(np.asarray(s.inverse()(s(x))) - x).max()); "
    "print('keras_spectro', ks.__version__, 'from', ks.__file__); print('round trip max error', error); "
    "assert error < 1e-5, error"
)


def fail(message):
    sys.exit(f"check_package: {message}")


def step(title, started):
    print(f"-- {title}: {time.perf_counter() - started:.1f} s", flush=True)


def check_files(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    print(f"{pathlib.Path(wheel).name}: {len(names)} files")
    for name in names:
        print("   ", name)
    stray = [
        n for n in names if n.startswith(FORBIDDEN_DIRS) or not (n.startswith("keras_spectro/") or ".dist-info/" in n)
    ]
    data = [n for n in names if n.lower().endswith(DATA_SUFFIXES)]
    if stray or data:
        fail(f"the wheel holds files that are not the package: {stray + data}")
    needed = [
        "keras_spectro/__init__.py",
        "keras_spectro/py.typed",
        "keras_spectro/layers/__init__.py",
        "keras_spectro/functional/__init__.py",
    ]
    missing = [n for n in needed if n not in names]
    if not any(n.endswith(".dist-info/licenses/LICENSE") for n in names):
        missing.append("*.dist-info/licenses/LICENSE")
    if not any(n.endswith(".dist-info/entry_points.txt") for n in names):
        missing.append("*.dist-info/entry_points.txt (the keras-spectro command)")
    if missing:
        fail(f"the wheel lacks {missing}")


def check_install(wheel):
    with tempfile.TemporaryDirectory() as tmp:
        env_dir = pathlib.Path(tmp, "venv")
        started = time.perf_counter()
        venv.EnvBuilder(with_pip=True, system_site_packages=False).create(env_dir)
        step("fresh virtual environment", started)
        python, command = env_dir / "bin" / "python", env_dir / "bin" / "keras-spectro"
        started = time.perf_counter()
        subprocess.run(
            [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", wheel, "jax[cpu]"], check=True
        )
        step("pip install the wheel and jax[cpu]", started)
        env = {
            key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
        }
        env.update(KERAS_BACKEND="jax", PYTHONNOUSERSITE="1")
        work = pathlib.Path(tmp, "work")
        work.mkdir()  # not the repository: `import keras_spectro` can only find the installed wheel
        started = time.perf_counter()
        help_text = subprocess.run(
            [command, "--help"], cwd=work, env=env, check=True, capture_output=True, text=True
        ).stdout
        if "apply" not in help_text or "show" not in help_text:
            fail(f"keras-spectro --help does not list its commands:\n{help_text}")
        step("keras-spectro --help", started)
        started = time.perf_counter()
        out = subprocess.run(
            [python, "-c", ROUND_TRIP], cwd=work, env=env, check=True, capture_output=True, text=True
        ).stdout
        print(out, end="")
        if str(env_dir) not in out:
            fail("keras_spectro was not imported from the fresh environment")
        step("round trip", started)


def main():
    if len(sys.argv) != 2:
        fail("usage: python .ci/check_package.py DIST_DIR")
    dist = sys.argv[1]
    files = sorted(glob.glob(os.path.join(dist, "*")))
    wheels = [f for f in files if f.endswith(".whl")]
    if len(wheels) != 1 or not any(f.endswith(".tar.gz") for f in files):
        fail(f"expected one wheel and one sdist in {dist}; found {files}")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *files], check=True)
    step("twine check", started)
    check_files(wheels[0])
    check_install(wheels[0])
    print("check_package: the wheel is fine")


if __name__ == "__main__":
    main()

"""Signatures that say what they take, and a package whose modules never import each other.

Every public layer, loss and metric writes its full `__init__` signature (no `*args`) with one
`Args` entry per argument in its docstring (Keras' Google style); the STFT trio takes `n_fft`
positionally and everything else by keyword (librosa's `*`). No two modules of keras_spectro
import each other, also not inside a function.
"""

import ast
import inspect
import pathlib
import re

import keras
import numpy as np
import pytest

import keras_spectro as ks

PACKAGE = pathlib.Path(ks.__file__).parent


def _public(module, base):
    names = getattr(module, "__all__", [n for n in vars(module) if not n.startswith("_")])
    return sorted(
        name
        for name in names
        if isinstance(getattr(module, name), type)
        and issubclass(getattr(module, name), base)
        and getattr(module, name).__module__.startswith("keras_spectro")
    )


CLASSES = [(ks.layers, name) for name in _public(ks.layers, keras.layers.Layer)]
CLASSES += [(ks.losses, name) for name in _public(ks.losses, keras.losses.Loss)]
CLASSES += [(ks.metrics, name) for name in _public(ks.metrics, keras.metrics.Metric)]
IDS = [f"{module.__name__.rsplit('.', 1)[1]}.{name}" for module, name in CLASSES]
STFT_TRIO = ("STFTSplit", "InverseSTFTSplit", "GriffinLim")


def _parameters(cls):
    return list(inspect.signature(cls.__init__).parameters.values())[1:]  # without self


def _args_entries(doc):
    """The argument names of a Google-style `Args:` section: `    name: ...` lines right under it."""
    section = re.search(r"^( *)Args:\n(.*?)(?=^\1\S|\Z)", doc, re.S | re.M)
    if section is None:
        return set()
    indent = len(section.group(1)) + 4
    return set(re.findall(rf"^ {{{indent}}}(\**\w+):", section.group(2), re.M))


@pytest.mark.parametrize("module, name", CLASSES, ids=IDS)
def test_no_args_forwarding_and_one_args_entry_per_argument(module, name):
    cls = getattr(module, name)
    parameters = _parameters(cls)
    assert not any(p.kind is p.VAR_POSITIONAL for p in parameters), f"{name}.__init__ forwards *args"
    entries = _args_entries(inspect.getdoc(cls) or "")
    names = {("**" if p.kind is p.VAR_KEYWORD else "") + p.name for p in parameters}
    missing = names - entries
    assert not missing, f"{name}'s docstring has no Args entry for {sorted(missing)}"


@pytest.mark.parametrize("name", STFT_TRIO)
def test_the_stft_trio_takes_n_fft_positionally_and_the_rest_by_keyword(name):
    cls = getattr(ks, name)
    first, *rest = _parameters(cls)
    assert first.name == "n_fft" and first.kind is first.POSITIONAL_OR_KEYWORD
    assert all(p.kind in (p.KEYWORD_ONLY, p.VAR_KEYWORD) for p in rest), name
    with pytest.raises(TypeError, match="positional"):
        cls(256, 64)


def test_the_trio_and_the_functions_name_the_same_settings_alike():
    settings = {"n_fft", "hop_length", "win_length", "window", "center", "pad_mode", "dft", "data_format"}
    for fn in (
        ks.functional.stft,
        ks.functional.istft,
        ks.functional.griffin_lim,
        *(getattr(ks, n) for n in STFT_TRIO),
    ):
        assert settings <= set(inspect.signature(fn).parameters), fn.__name__
    options = {"n_iter", "momentum", "init", "seed", "length"}
    assert options <= set(inspect.signature(ks.functional.griffin_lim).parameters)
    assert options <= set(inspect.signature(ks.GriffinLim).parameters)
    loss = set(inspect.signature(ks.losses.STFTLoss).parameters)
    assert {"n_fft", "hop_length", "win_length", "window", "center", "pad_mode", "data_format"} <= loss


def test_griffin_lim_refuses_images_with_phase():
    with pytest.raises(ValueError, match="magnitudes only; got representation='real_imag'"):
        ks.GriffinLim(256, representation="real_imag")
    same = ks.GriffinLim(256, representation="magnitude", name="g").get_config()
    assert same == ks.GriffinLim(256, name="g").get_config()


def _module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path):
    """The keras_spectro modules that `path` imports anywhere (top level or inside a function)."""
    name, found = _module_name(path), set()
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from package import module`
    return {m for m in found if m.split(".")[0] == "keras_spectro"}


def test_no_two_modules_import_each_other():
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {name: _imports(path) & set(modules) - {name} for name, path in modules.items()}
    circles = sorted(
        (a, b)
        for a, targets in graph.items()
        for b in targets
        if a < b and a in graph.get(b, set()) and not _is_package_of(a, b) and not _is_package_of(b, a)
    )
    assert not circles, f"modules that import each other: {circles}"


def _is_package_of(package, module):
    """A package's `__init__` re-exports its modules; a module importing a sibling via the package is no circle."""
    return module.startswith(package + ".")


def test_the_shared_checks_name_the_argument_and_keep_the_value():
    from keras_spectro.functional import common
    from keras_spectro.functional.framing import safe_reciprocal

    assert common.check_choice("reflect", ("constant", "reflect"), "pad_mode") == "reflect"
    with pytest.raises(ValueError, match=r"pad_mode must be one of \('constant', 'reflect'\); got 'edge'"):
        common.check_choice("edge", ("constant", "reflect"), "pad_mode")
    assert common.non_negative_int(0, "n_iter") == 0
    assert common.sample_rate_hz(16000.0) == 16000 and common.sample_rate_hz(22050.5) == 22050.5
    for check, bad in [
        (common.positive_int, 0),
        (common.non_negative_int, -1),
        (common.positive_number, 0.0),
        (common.non_negative_number, float("inf")),
        (common.sample_rate_hz, float("nan")),
    ]:
        for value in (bad, True, "1"):
            with pytest.raises(ValueError, match="^x must be"):
                check(value, "x")
    assert [common.channel_axis(r, "channels_last") for r in (3, 4)] == [2, 3]
    assert common.channel_axis(4, "channels_first") == 1
    assert safe_reciprocal(np, np.array([0.0, 1e-12, 2.0]), 1e-8).tolist() == [1.0, 1.0, 0.5]


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda flag: ks.STFTSplit(64, center=flag), "center"),
        (lambda flag: ks.InverseSTFTSplit(64, center=flag), "center"),
        (lambda flag: ks.GriffinLim(64, center=flag), "center"),
        (lambda flag: ks.losses.MultiResolutionSTFTLoss(center=flag), "center"),
        (lambda flag: ks.MelScale(n_fft=64, sample_rate=16000, htk=flag), "htk"),
        (lambda flag: ks.losses.SISDRLoss(zero_mean=flag), "zero_mean"),
        (lambda flag: ks.metrics.SISDR(broadcast_channels=flag), "broadcast_channels"),
        (
            lambda flag: ks.SpectrogramDomain([ks.STFTSplit(64)], sources=2, mixture_consistency=flag),
            "mixture_consistency",
        ),
    ],
)
def test_flags_take_true_or_false_only(make, name):
    # bool(...) read center="False", None, 0.5 or -1 as a setting without a word; numpy's bools are flags
    assert make(np.bool_(True)).get_config()[name] is True
    for bad in ("False", None, 1, 0.5):
        with pytest.raises(ValueError, match=f"^{name} must be True or False; got {bad!r}"):
            make(bad)


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda v: ks.MagnitudePhaseScaling(magnitude_scale=v), "magnitude_scale"),
        (lambda v: ks.MagnitudePhaseScaling(phase_scale=v), "phase_scale"),
        (lambda v: ks.MagnitudePhaseScaling(phase_shift=v), "phase_shift"),
        (lambda v: ks.SpectrogramScaler("standard", target_mean=v), "target_mean"),
        (lambda v: ks.SpectrogramScaler("standard", target_std=v), "target_std"),
        (lambda v: ks.SpectrogramScaler("minmax", feature_range=(0.0, v)), "feature_range"),
        (lambda v: ks.MelScale(n_fft=64, sample_rate=16000, fmin=v), "fmin"),
        (lambda v: ks.MelScale(n_fft=64, sample_rate=16000, fmax=v), "fmax"),
    ],
)
def test_numbers_take_finite_numbers_only(make, name):
    # float(...) took NaN (NaN images), inf (an infinite range) and True (1.0) without a word
    assert make(np.float32(2.0)).get_config()[name] in (2.0, [0.0, 2.0])
    for bad in (float("nan"), float("inf"), True, "2"):
        with pytest.raises(ValueError, match=f"^{name} must be a"):
            make(bad)


def test_the_scaler_axis_is_checked_when_made():
    # axis="frames" failed at adapt with "not all arguments converted", True meant axis 1, np.int64(3) was refused
    assert ks.SpectrogramScaler("standard", axis=np.int64(3)).get_config()["axis"] == 3
    assert ks.SpectrogramScaler("standard", axis=[1, np.int32(3)]).get_config()["axis"] == (1, 3)
    for bad in ("frames", True, 1.0, [True]):
        with pytest.raises(
            ValueError, match=re.escape(f'axis must be None, "channels", an int or a tuple of ints; got {bad!r}')
        ):
            ks.SpectrogramScaler("standard", axis=bad)


def test_griffin_lim_options_are_a_dict():
    # a GriffinLim layer given here failed with "'GriffinLim' object is not iterable"
    assert ks.STFTSplit(64, representation="magnitude", griffin_lim={"n_iter": 3}).inverse().n_iter == 3
    for bad in (ks.GriffinLim(64), "n_iter", [("n_iter", 3)]):
        with pytest.raises(ValueError, match="^griffin_lim takes a dict of GriffinLim options"):
            ks.STFTSplit(64, representation="magnitude", griffin_lim=bad)

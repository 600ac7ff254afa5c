"""A Griffe extension (mkdocs.yml, mkdocstrings `extensions:`) for the API reference.

`STFTSplit.__init__(self, *args, griffin_lim=None, **kwargs)` and `InverseSTFTSplit`'s forward
their settings to a private base class (`_STFTLayer`), so their own signatures read
`STFTSplit(*args, griffin_lim=None, **kwargs)`. Here a `*args` in a public class's
`__init__` is replaced by the parameters of the first base whose `__init__` names them, so
the page shows `STFTSplit(n_fft=2048, hop_length=None, ..., griffin_lim=None, **kwargs)`:
the signature the class really takes. Nothing else changes.
"""

import griffe


def _named_parameters(cls):
    """The `__init__` parameters of the first class in the MRO (after cls) without `*args`."""
    for base in cls.mro():
        init = base.members.get("__init__")
        if init is None or not init.is_function:
            continue
        kinds = [p.kind for p in init.parameters]
        if griffe.ParameterKind.var_positional not in kinds:
            return [p for p in init.parameters if p.name != "self" and p.kind is not griffe.ParameterKind.var_keyword]
    return None


class ForwardedInit(griffe.Extension):
    def on_package(self, *, pkg, **kwargs):
        for obj in _classes(pkg):
            init = obj.members.get("__init__")
            if obj.name.startswith("_") or init is None or init.is_alias or not init.is_function:
                continue
            params = list(init.parameters)
            if not any(p.kind is griffe.ParameterKind.var_positional for p in params):
                continue
            inherited = _named_parameters(obj)
            if inherited is None:
                continue
            own = [p for p in params if p.kind is griffe.ParameterKind.keyword_only]
            own_names = {p.name for p in own}
            head = [p for p in params if p.name == "self"]
            tail = [p for p in params if p.kind is griffe.ParameterKind.var_keyword]
            init.parameters = griffe.Parameters(*head, *[p for p in inherited if p.name not in own_names], *own, *tail)


def _classes(module):
    for member in module.members.values():
        if member.is_alias:
            continue
        if member.is_module:
            yield from _classes(member)
        elif member.is_class:
            yield member

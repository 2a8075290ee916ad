"""The registry of model families: ``family`` name in a config -> builder.

Family modules register their builder with :func:`register_family` at import time; this
module imports none of them, so any family module can import it at its top. The built-in
families' modules are imported when their family is first looked up, so a process that
uses one family never imports the others (nor does ``import ganmetric``).
"""
from __future__ import annotations

import importlib
import inspect
from collections.abc import MutableMapping
from typing import Callable

from ..errors import InputError

#: built-in family -> the module of this package that registers it
_BUILTIN = {"dcgan": "dcgan", "cdcgan": "dcgan", "biggan": "biggan", "stylegan2": "stylegan2"}
_BUILTIN.update({"deepsim": "deepsim", "pggan": "ganzoo", "gan-zoo-dcgan": "ganzoo"})
_BUILTIN.update({"stylegan1": "stylegan1", "bigbigan": "bigbigan"})


class _Families(MutableMapping):
    """family name -> builder; a built-in family's module is imported on its first lookup."""

    def __init__(self):
        self._builders: dict[str, Callable] = {}

    def __getitem__(self, name: str) -> Callable:
        if name not in self._builders and name in _BUILTIN:
            importlib.import_module(f".{_BUILTIN[name]}", __package__)  # registers the builder
        return self._builders[name]

    def __setitem__(self, name: str, builder: Callable) -> None:
        self._builders[name] = builder

    def __delitem__(self, name: str) -> None:
        del self._builders[name]

    def __contains__(self, name) -> bool:
        return name in self._builders or name in _BUILTIN

    def __iter__(self):
        return iter(dict.fromkeys([*_BUILTIN, *self._builders]))

    def __len__(self) -> int:
        return len(dict.fromkeys([*_BUILTIN, *self._builders]))


FAMILIES: MutableMapping[str, Callable] = _Families()
"""Family name -> ``builder(config, *, latent_space, **options) -> Generator``."""


def register_family(name: str):
    """Decorator: register ``builder(config, *, latent_space, **options) -> Generator`` as family ``name``.

    Args:
        name: the family's name, as configs write it in ``"family"``.

    Returns:
        The decorator; it returns the builder unchanged.
    """
    def deco(fn):
        FAMILIES[name] = fn
        return fn
    return deco


def option_names(builder) -> list[str]:
    """The keyword options a builder (or loader) takes, ``latent_space`` excepted."""
    params = inspect.signature(builder).parameters
    return [n for n, p in params.items() if p.kind is p.KEYWORD_ONLY and n != "latent_space"]


def check_options(builder, what: str, options: dict) -> None:
    """Refuse options that ``builder`` does not take, in one line naming the valid ones.

    Args:
        builder: a family builder or loader with keyword-only options.
        what: the model, for the message ("model eyes-cdcgan", "a custom model").
        options: the options given.

    Raises:
        InputError: an option the builder does not take.
    """
    valid = option_names(builder)
    bad = sorted(set(options) - set(valid))
    if bad:
        words = lambda names: ", ".join(n.replace("_", " ") for n in names) or "none"  # noqa: E731
        raise InputError(f"{words(bad)} cannot be set for {what}; the options it takes are: {words(valid)}",
                         argument=bad[0])

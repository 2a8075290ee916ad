"""The registry of model families: ``family`` name in a config -> builder.

Family modules register their builder with :func:`register_family` at import time; this
module imports none of them, so any family module can import it at its top.
"""
from __future__ import annotations

import inspect
from typing import Callable

from ..errors import InputError

#: family name -> ``builder(config, *, latent_space, **options) -> Generator``
FAMILIES: dict[str, Callable] = {}


def register_family(name: str):
    """Decorator: register ``builder(config, *, latent_space, **options) -> Generator`` as family ``name``."""
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
        raise InputError(f"{words(bad)} cannot be set for {what}; the options it takes are: {words(valid)}")

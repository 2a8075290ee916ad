"""Users' own code named on the command line as ``module.path:factory`` (models, distances, objectives).

The module is imported only because the user named it (never because a file's record names it:
see :func:`ganmetric.generators.spec.refuse_unnamed`); the current directory is searched too,
as ``python -m`` does.
"""
from __future__ import annotations

import importlib
import os
import re
import sys
from pathlib import Path
from typing import Callable

from .errors import InputError, first_line

#: ``package.module:callable`` (dotted module path, one colon, a Python identifier).
FACTORY_PATTERN = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def is_factory_spec(name: str) -> bool:
    """Whether ``name`` looks like ``module.path:factory`` (and is not an existing file)."""
    return bool(FACTORY_PATTERN.match(name)) and not Path(name).exists()


def import_factory(spec: str, *, what: str = "model") -> Callable:
    """The callable named by ``module.path:factory``; the current directory is searched too.

    Args:
        spec: ``module.path:factory``.
        what: what it builds, for messages and as the blamed argument ("model", "distance").

    Returns:
        The callable (not called).

    Raises:
        InputError: ``spec`` is not of that form, the module cannot be imported, or it has no
            such callable (``argument=what``).
    """
    if not FACTORY_PATTERN.match(spec):
        raise InputError(f"expected a custom {what} as module.path:factory, got {spec}", argument=what)
    mod_name, attr = spec.split(":")
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:  # like `python -m`, let users point at a module next to them; undone right after
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(mod_name)
    except Exception as exc:
        raise InputError(f"cannot import module {mod_name} for the {what} {spec}: {first_line(exc)}",
                         argument=what) from exc
    finally:
        if added and cwd in sys.path:
            sys.path.remove(cwd)
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise InputError(f"module {mod_name} has no function or class named {attr} (from the {what} {spec})",
                         argument=what)
    return factory

"""Every public name has a docstring with its arguments and what it returns, and every command and option of the
CLI has its help: the API and CLI references are generated from them (docs/, mkdocs.yml).

Public: every name in ``__all__`` of ``ganmetric`` and of its public subpackages. A function or class needs a
docstring of its own; when it takes arguments, an ``Args:`` section (``Attributes:`` for a dataclass) that names
every one of them (``z_a, z_b: ...`` names two); when it is annotated to return something, a ``Returns:``
(or ``Yields:``) section. A constant needs a docstring (a string right after its assignment, which griffe reads).
"""
from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
from pathlib import Path

import click
import pytest

from ganmetric_cli.main import main as cli_main

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["ganmetric"] + [f"ganmetric.{p}" for p in ("generators", "distances", "hessian", "analysis", "axes",
                                                        "inversion", "blackbox", "paths", "viewer", "testing")]
ARG_SECTIONS = ("Args", "Arguments", "Parameters", "Attributes")


def public_names() -> list[tuple[str, str, object]]:
    """(package, name, object) for every name in the public packages' ``__all__`` (dunder names left out)."""
    out = []
    for package in PACKAGES:
        module = importlib.import_module(package)
        out += [(package, name, getattr(module, name)) for name in module.__all__ if not name.startswith("__")]
    return out


def _section(doc: str, names) -> str | None:
    """The body of the first section titled one of ``names`` (its indented lines), or None."""
    match = re.search(r"^(?:%s):[ \t]*$" % "|".join(names), doc, re.M)
    if match is None:
        return None
    rest = doc[match.end():]
    end = re.search(r"^\S", rest, re.M)
    return rest[:end.start()] if end else rest


def _documented(section: str) -> set[str]:
    """Names an Args-like section documents: each entry's names before its colon (``a, b (int):`` names two)."""
    lines = [line for line in section.splitlines() if line.strip()]
    if not lines:
        return set()
    indent = min(len(line) - len(line.lstrip()) for line in lines)
    names = set()
    for line in lines:
        if len(line) - len(line.lstrip()) == indent:
            head = re.match(r"\s*([\w*,\s]+?)\s*(?:\([^)]*\))?\s*:", line)
            if head:
                names.update(n.strip().lstrip("*") for n in head.group(1).split(","))
    return names


def _own_doc(obj) -> str:
    """The docstring written for ``obj`` itself: not a base class's, not a dataclass's generated signature."""
    doc = obj.__doc__ or ""
    if inspect.isclass(obj) and dataclasses.is_dataclass(obj) and doc.startswith(f"{obj.__name__}("):
        doc = ""
    doc = inspect.cleandoc(doc)
    if inspect.isclass(obj) and "__init__" in vars(obj) and vars(obj)["__init__"].__doc__:
        doc += "\n" + inspect.cleandoc(vars(obj)["__init__"].__doc__)
    return doc.strip()


def _parameters(obj) -> list[str]:
    """Named parameters of a function or of a class's constructor (no self, no ``*args``/``**kwargs``)."""
    if inspect.isclass(obj) and issubclass(obj, BaseException):
        return []
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return []
    return [name for name, p in signature.parameters.items()
            if name not in ("self", "cls") and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def callable_problems(obj) -> list[str]:
    """What the docstring of a public function or class lacks (empty when it is complete)."""
    doc = _own_doc(obj)
    if not doc:
        return ["no docstring"]
    problems = []
    params = _parameters(obj)
    section = _section(doc, ARG_SECTIONS)
    if params and section is None:
        problems.append(f"no Args section for {', '.join(params)}")
    elif params:
        missing = [p for p in params if p not in _documented(section)]
        if missing:
            problems.append(f"Args does not name {', '.join(missing)}")
    if inspect.isfunction(obj):
        returns = inspect.signature(obj).return_annotation
        if returns not in (inspect.Signature.empty, None, "None") and _section(doc, ("Returns", "Yields")) is None:
            problems.append(f"no Returns section (returns {returns})")
    return problems


def constant_docstrings() -> dict[str, bool]:
    """``package.NAME`` -> whether griffe (what the API reference reads) finds a docstring, for every constant."""
    griffe = pytest.importorskip("griffe", reason="griffe reads the constants' docstrings (pip install -e \".[test]\")")
    package = griffe.load("ganmetric", search_paths=[str(ROOT)], resolve_aliases=True,
                          resolve_external=False)
    out = {}
    for pkg, name, obj in public_names():
        if not (inspect.isfunction(obj) or inspect.isclass(obj) or inspect.ismodule(obj)):
            member = package[f"{pkg}.{name}".removeprefix("ganmetric.")] if pkg != "ganmetric" else package[name]
            out[f"{pkg}.{name}"] = bool(member.docstring and member.docstring.value.strip())
    return out


def test_every_public_function_and_class_documents_its_arguments_and_returns():
    problems = {f"{pkg}.{name}": p for pkg, name, obj in public_names()
                if (inspect.isfunction(obj) or inspect.isclass(obj)) and (p := callable_problems(obj))}
    assert problems == {}, "\n".join(f"{name}: {'; '.join(p)}" for name, p in sorted(problems.items()))


def test_every_public_constant_has_a_docstring():
    missing = sorted(name for name, has in constant_docstrings().items() if not has)
    assert missing == [], f"no docstring (a string right after the assignment): {missing}"


def _commands(group: click.Group, prefix: str = "ganmetric"):
    yield prefix, group
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _commands(command, f"{prefix} {name}")
        else:
            yield f"{prefix} {name}", command


def test_every_command_and_option_has_help():
    missing = []
    for name, command in _commands(cli_main):
        if not (command.help or "").strip():
            missing.append(name)
        missing += [f"{name} {p.opts[0]}" for p in command.params
                    if isinstance(p, click.Option) and not p.hidden and not (p.help or "").strip()]
    assert missing == [], missing


# --- the checker itself ------------------------------------------------------------------------------------------


def _complete(G, z_a, z_b, *, points: int = 3) -> int:
    """Count the codes.

    Args:
        G: a generator.
        z_a, z_b: the endpoints.
        points: how many.

    Returns:
        The count.
    """


def _placeholder(G, z, points=3) -> int:
    """Count the codes."""


def _partial(G, z, points=3):
    """Count the codes.

    Args:
        G: a generator.
        z (Tensor): (n,) a code.
    """


@dataclasses.dataclass
class _Fields:
    a: int
    b: int


def test_the_checker_finds_what_is_missing():
    assert callable_problems(_complete) == []
    assert callable_problems(_placeholder) == ["no Args section for G, z, points", "no Returns section (returns int)"]
    assert callable_problems(_partial) == ["Args does not name points"]
    assert callable_problems(_Fields) == ["no docstring"]  # the generated "_Fields(a: int, b: int)" is not one
    assert _documented("    G, D: the models.\n        more text: not an entry\n    **options: the rest.\n") == {
        "G", "D", "options"}

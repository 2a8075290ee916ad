"""ganmetric/errors.py: every InputError the package raises names its argument (an AST scan of the source),
and the command line knows each argument's flag or shows its errors as written (ganmetric_cli.flags)."""
from __future__ import annotations

import ast
import inspect
from pathlib import Path

import ganmetric
from ganmetric import errors
from ganmetric_cli.flags import SHOWN_AS_WRITTEN, known_arguments
from ganmetric_cli.main import main

ROOT = Path(__file__).resolve().parents[1]
#: the validators of ganmetric.checks, whose first argument is the name of the argument they check
CHECKS = {"one_of", "latent_codes", "finite_float", "positive_float", "non_negative_float", "integer", "seed", "flag",
          "positive_int"}
#: calls whose argument= keyword is not the name of an argument to blame (a distance's form in its help)
NOT_ARGUMENTS = {"register_distance"}
#: every class an InputError is raised as (InputError and its subclasses)
INPUT_ERRORS = {name for name, cls in inspect.getmembers(errors, inspect.isclass) if issubclass(cls, errors.InputError)}


def _sources():
    for folder in (ROOT / "ganmetric", ROOT / "cli" / "ganmetric_cli"):
        for path in sorted(folder.rglob("*.py")):
            yield path, ast.parse(path.read_text(), filename=str(path))


def _called(node: ast.Call) -> str | None:
    return node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)


def _where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(ROOT)}:{node.lineno}"


def test_every_input_error_names_its_argument():
    """``InputError(..., argument=NAME)``, so that a front end can put its own name for it in the message's place."""
    assert INPUT_ERRORS >= {"InputError", "ResultFileError"}
    missing = [_where(path, node) for path, tree in _sources() for node in ast.walk(tree)
               if isinstance(node, ast.Call) and _called(node) in INPUT_ERRORS
               and not any(k.arg == "argument" for k in node.keywords)]
    assert not missing, "InputErrors without argument=: " + ", ".join(missing)


def _named_arguments() -> dict[str, str]:
    """Every argument name written in the package as a literal: ``argument="..."`` and ``mentions=(...)``
    anywhere, and the name given to a validator of ``checks`` -> where it is first written."""
    names: dict[str, str] = {}
    for path, tree in _sources():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or _called(node) in NOT_ARGUMENTS:
                continue
            literals = [k.value for k in node.keywords if k.arg == "argument"]
            literals += [e for k in node.keywords if k.arg == "mentions" and isinstance(k.value, ast.Tuple)
                         for e in k.value.elts]
            if isinstance(node.func, ast.Attribute) and getattr(node.func.value, "id", None) == "checks" \
                    and node.func.attr in CHECKS and node.args:
                literals.append(node.args[0])
            for value in literals:
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    names.setdefault(value.value, _where(path, node))
    return names


def test_argument_names_are_identifiers_the_command_line_knows_or_shows_as_written():
    """An argument's name is a Python identifier (the keyword the user passed), and either some command has a flag
    for it (generated from the commands' own parameters) or it is listed as shown as the library wrote it; a new
    name must be one or the other, so that a misspelt or renamed argument cannot silently lose its flag."""
    names = _named_arguments()
    assert len(names) > 100
    not_identifiers = {name: where for name, where in names.items() if not name.isidentifier()}
    assert not not_identifiers, not_identifiers
    known = known_arguments(main)
    unknown = {name: where for name, where in names.items() if name not in known and name not in SHOWN_AS_WRITTEN}
    assert not unknown, ("give these arguments a flag (a command parameter of that Python name, or Feeds) or list "
                         f"them in ganmetric_cli.flags.SHOWN_AS_WRITTEN: {unknown}")
    assert not SHOWN_AS_WRITTEN & known, "listed as shown as written, yet a command has a flag for them"


def test_the_scan_sees_what_it_checks(tmp_path):
    """The scan is not vacuous: a call without argument= in a module like the package's is found."""
    tree = ast.parse("from ganmetric.errors import InputError\nraise InputError('k must be at least 1')\n")
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and _called(n) in INPUT_ERRORS]
    assert len(calls) == 1 and not calls[0].keywords
    assert ganmetric.InputError("x", argument="k").argument == "k"


def test_an_error_names_the_other_arguments_it_mentions_as_asked():
    """``mentions``: the Python API shows the arguments' names, a front end its own (the CLI's flags)."""
    exc = ganmetric.InputError("out_dir x holds {{a, b}}; replace them: {overwrite}", argument="out_dir",
                               mentions=("overwrite",))
    assert str(exc) == "out_dir x holds {a, b}; replace them: overwrite"
    assert exc.worded({"overwrite": "--overwrite", "out_dir": "--out"}) == "out_dir x holds {a, b}; replace them: --overwrite"
    plain = ganmetric.InputError("k {1, 2}", argument="k")
    assert plain.worded({"k": "--k"}) == str(plain) == "k {1, 2}" and plain.mentions == ()

"""The README: its structure (fences pair up, the Python parses, every relative link reaches a file, every command
is in the task table, the set-up commands are CI's) and its quick starts run, the shell one and the Python one.

The rest of what the README used to hold lives in docs/; tests/test_docs_pages.py runs those pages' blocks.
"""
import ast
import re
from pathlib import Path

import click
import pytest

from helpers_docs import fenced_blocks, run_cli, run_python, shell_commands, substitute

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _blocks():
    return fenced_blocks(README, "README.md")


def test_fences_pair_up_and_the_python_parses():
    blocks = _blocks()
    python = [code for lang, code in blocks if lang == "python"]
    assert python and [lang for lang, _ in blocks].count("bash") >= 1
    for code in python:
        ast.parse(code)  # raises SyntaxError with the offending line


def test_no_python_outside_code_blocks():
    """Code lines in running text mean a fence was lost."""
    inside, stray = False, []
    for line in README.splitlines():
        if re.match(r"^\s*```", line):
            inside = not inside
        elif not inside and re.match(r"^(from ganmetric|import ganmetric|[A-Za-z_]\w* = ganmetric\.)", line):
            stray.append(line)
    assert stray == []


def test_every_relative_link_reaches_a_file():
    links = re.findall(r"\]\(([^)\s]+)\)", README)
    relative = [link.split("#")[0] for link in links if not re.match(r"^(https?:|mailto:|#)", link)]
    assert len(relative) > 20
    assert [link for link in relative if not (ROOT / link).exists()] == []


def test_the_set_up_commands_are_what_ci_runs():
    """The test command is exactly .ci/run's, and the main job's set-up ends in the CLI quick start's command."""
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.startswith("pip install")]
    assert len(ci) == 1 and f"\n    {ci[0]}\n" in README
    main_job = "    pip install torch==2.14.1 torchvision==0.29.1 && pip install -e . && ganmetric hessian "
    assert README.count(main_job) == 1


def _commands(group: click.Group, prefix: str = "ganmetric"):
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _commands(command, f"{prefix} {name}")
        else:
            yield f"{prefix} {name}"


def test_the_task_table_names_every_command_and_its_reference():
    from ganmetric_cli.main import main
    table = "\n".join(line for line in README.splitlines() if line.startswith("| "))
    for command in _commands(main):
        anchor = "docs/cli.md#" + command.replace(" ", "-")
        assert f"({anchor})" in table, f"{command} is not in the README's task table (with a link to {anchor})"


def test_no_test_counts_or_timings():
    """They go stale with every change: the README says where to look instead."""
    assert not re.search(r"\d+ tests|\d+(\.\d+)? ?(s|seconds|minutes)\b", README)


#: (README text, what runs instead) in the CLI quick start: a smaller montage
SHELL_SUBSTITUTIONS = [("--axes-list 0,1,2 --steps 5 --calibrate 0.05", "--axes-list 0,1 --steps 3 --calibrate 0.05")]


@pytest.mark.slow  # the CLI quick start, four commands: about 20 s
@pytest.mark.pretrained("dcgan-face")
@pytest.mark.integration  # README runs
def test_the_cli_quick_start_runs(tmp_path, monkeypatch):
    commands = [c for lang, code in _blocks() if lang == "bash" for c in shell_commands(code)]
    assert len(commands) >= 3
    for old, _ in SHELL_SUBSTITUTIONS:
        assert sum(old in c for c in commands) == 1, f"substitution no longer matches the README once: {old!r}"
    monkeypatch.chdir(tmp_path)
    for command in commands:
        run_cli(substitute(command, SHELL_SUBSTITUTIONS), "README.md")
    assert {"face.npz", "axes.npz", "axes.png"} <= {p.name for p in tmp_path.iterdir()}


@pytest.mark.slow  # the metric of dcgan-face at one point, twice (the page's prediction checked against a real step)
@pytest.mark.pretrained("dcgan-face")
@pytest.mark.integration  # README runs
def test_the_python_quick_start_runs_and_its_prediction_holds(tmp_path, monkeypatch, capsys):
    """The quick start prints the real distance of a small step along the top eigenvector and the metric's
    prediction t^2 lambda / 2: at t = 0.01 they agree to 15% (the odd term along axis 0 is a few percent there)."""
    python = [code for lang, code in _blocks() if lang == "python"]
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "readme"}
    for i, code in enumerate(python):
        run_python(code, namespace, f"README.md python block {i}")
    real, predicted = map(float, capsys.readouterr().out.split()[-2:])
    assert predicted > 0 and abs(real / predicted - 1) < 0.15, (real, predicted)
    assert (tmp_path / "face.npz").exists()

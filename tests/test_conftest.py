"""tests/conftest.py's guard: a test that moves a module-scoped fixture in place (device or dtype) fails."""
from __future__ import annotations

import pytest
import torch

from conftest import _placements, placement_changes

pytest_plugins = ["pytester"]

MOVES = '''
import pytest
import torch


@pytest.fixture(scope="module")
def shared():
    return {"G": torch.nn.Linear(2, 2), "z": torch.zeros(2)}


def test_moves_it(shared):
    shared["G"].double()          # in place: the next test would get a float64 model


def test_copies_it(shared):
    shared["G"] = shared["G"]     # rebinding is not moving
    torch.nn.Linear(2, 2).double()
'''


def test_placements_see_modules_tensors_and_containers_and_name_what_moved():
    values = {"problem": {"G": torch.nn.Linear(2, 2), "pair": (torch.zeros(2), [torch.ones(1)])}}
    before = {name: _placements(value) for name, value in values.items()}
    assert [w for w, _, _ in before["problem"]] == ["['G'].weight", "['G'].bias", "['pair'][0]", "['pair'][1][0]"]
    assert placement_changes(values, before) == []
    values["problem"]["G"].double()
    values["problem"]["pair"][1][0] = torch.ones(1, device="meta")
    assert placement_changes(values, before) == [
        "problem['G'].weight was cpu torch.float32, now cpu torch.float64",
        "problem['G'].bias was cpu torch.float32, now cpu torch.float64",
        "problem['pair'][1][0] was cpu torch.float32, now meta torch.float32"]


@pytest.mark.slow  # an inner pytest session: 1-2 s, kept out of the fast tier's minute
def test_a_test_that_moves_a_shared_fixture_in_place_fails(pytester):
    """An inner pytest session in this process (pytester), with tests/conftest.py as its plugin."""
    pytester.makepyfile(test_moves=MOVES)
    out = pytester.runpytest_inprocess("-q", "-p", "conftest", "-p", "no:cacheprovider")
    text = "\n".join(out.outlines)
    out.assert_outcomes(passed=2, errors=1)  # the teardown's error is the first test's
    assert ("ERROR at teardown of test_moves_it" in text
            and "a shared fixture was moved in place (use a copy): shared['G'].weight was cpu torch.float32, now cpu "
                "torch.float64" in text), text

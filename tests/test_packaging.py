"""setup.cfg lists every package a non-editable install needs (an editable install hides a missing one)."""
import configparser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_subpackage_is_listed_in_setup_cfg():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    listed = set(cfg["options"]["packages"].split())
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "ganmetric").rglob("__init__.py")}
    on_disk |= {"ganmetric_cli", "ganmetric.pretrained_configs"}
    assert on_disk - listed == set(), "packages missing from setup.cfg's [options] packages"
    assert listed - on_disk == set(), "setup.cfg lists packages that do not exist"


def test_static_files_of_listed_packages_are_package_data():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    data = cfg["options.package_data"]
    static = [p for p in (ROOT / "ganmetric").rglob("*")
              if p.is_file() and p.suffix in (".html", ".js", ".css", ".json")]
    for f in static:
        pkg = ".".join(f.parent.relative_to(ROOT).parts[:-1]) if f.parent.name == "static" else \
            ".".join(f.parent.relative_to(ROOT).parts)
        assert pkg in data, f"{f.relative_to(ROOT)} is not covered by package_data"

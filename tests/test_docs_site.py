"""The documentation site: ``mkdocs build --strict`` of a copy of this checkout's ``mkdocs.yml``, ``docs/`` and
``examples/`` (every example runs; a broken link, an unresolved reference or an example that raises fails the
build), what the generated pages hold, and the built pages opened in headless Chromium, offline.

The build runs in a subprocess that imports this checkout (``helpers.subprocess_env``), into a temporary folder:
it never writes into the checkout (``docs/generated/`` is what ``mkdocs serve`` there leaves).
"""
from __future__ import annotations

import functools
import html
import http.server
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import click
import pytest

import ganmetric
from ganmetric.distances import distance_entries
from ganmetric.generators import available_configs
from ganmetric.hessian import METHODS
from ganmetric_cli.main import main as cli_main
from helpers import headless_chromium, subprocess_env

pytest.importorskip("mkdocs", reason="the site needs the docs packages (pip install -e \".[test]\")")
pytest.importorskip("mkdocs_gallery", reason="the site needs the docs packages (pip install -e \".[test]\")")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(p.stem for p in (ROOT / "examples").glob("[0-9][0-9]_*.py"))
#: the public packages whose ``__all__`` the API reference renders, and the page of each
API_PAGES = {"ganmetric": "api/ganmetric", **{f"ganmetric.{p}": f"api/{p}" for p in (
    "generators", "distances", "hessian", "analysis", "axes", "inversion", "blackbox", "paths", "viewer",
    "testing")}}
#: a build of the whole site on 2 cores (the examples take most of it) takes about 2 minutes
BUILD_TIMEOUT_S = 900

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.pretrained("dcgan-face")]


def copy_project(dest: Path, *, examples: bool = True) -> Path:
    """The files the site is built from, copied to ``dest`` (without a previous build's ``docs/generated``)."""
    shutil.copy(ROOT / "mkdocs.yml", dest / "mkdocs.yml")
    shutil.copy(ROOT / "CHANGELOG.md", dest / "CHANGELOG.md")
    shutil.copytree(ROOT / "docs", dest / "docs", ignore=shutil.ignore_patterns("generated", "__pycache__"))
    if examples:
        shutil.copytree(ROOT / "examples", dest / "examples", ignore=shutil.ignore_patterns("__pycache__"))
    else:
        (dest / "examples").mkdir()
        shutil.copy(ROOT / "examples" / "README.md", dest / "examples" / "README.md")
    return dest


def build(project: Path) -> subprocess.CompletedProcess:
    """``python -m mkdocs build --strict`` in ``project`` (importing this checkout), into ``project/site``."""
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(project / "site")],
                          cwd=project, env=subprocess_env(NO_MKDOCS_2_WARNING="1", MPLBACKEND="Agg"),
                          capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The whole site, built from a copy of this checkout; the build's log is shown if it fails."""
    project = copy_project(tmp_path_factory.mktemp("docs_site"))
    done = build(project)
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stderr[-8000:]}"
    assert "WARNING" not in done.stderr, done.stderr[-8000:]
    return project / "site"


def _page(site: Path, page: str) -> str:
    return (site / page / "index.html").read_text()


def test_every_example_ran_and_shows_its_figures(site):
    assert len(EXAMPLES) == 8, EXAMPLES
    index = _page(site, "generated/gallery")
    for name in EXAMPLES:
        html = _page(site, f"generated/gallery/{name}")
        images = re.findall(r'<img[^>]+src="([^"]+mkd_glr_' + name + r'_\d+\.png)"', html)
        assert images, f"{name}: no figure on its page"
        assert all((site / f"generated/gallery/{name}" / src).resolve().stat().st_size > 5000 for src in images)
        assert "Traceback" not in html
        assert f'href="{name}/"' in index or f'href="./{name}/"' in index, f"{name} is not in the gallery"


def test_generated_tables_hold_the_registries(site):
    engine = _page(site, "engine")
    for name, method in METHODS.items():
        assert f"<code>{name}</code>" in engine and html.escape(method.help, quote=False) in engine
    models = _page(site, "models")
    for name in available_configs():
        assert f"<code>{name}</code>" in models
    for entry in distance_entries():
        assert f"<code>{html.escape(entry.form)}</code>" in models
    assert "<!-- generated:" not in engine + models
    columns = [5, 6, 3]  # of each table in order: engine's methods; models' models, distances
    tables = [table for page in (engine, models) for table in re.findall(r"<table>(.*?)</table>", page, re.S)]
    assert len(tables) == len(columns)
    for table, n in zip(tables, columns):  # a '|' inside a cell would shift the row
        rows = re.findall(r"<tr>(.*?)</tr>", table, re.S)
        assert len(rows) > 5 and {len(re.findall(r"<t[dh][\s>]", row)) for row in rows} == {n}


def _commands(group: click.Group, prefix: str = "ganmetric"):
    for name, command in group.commands.items():
        yield f"{prefix} {name}"
        if isinstance(command, click.Group):
            yield from _commands(command, f"{prefix} {name}")


def test_cli_reference_has_every_command_and_option(site):
    html = _page(site, "cli")
    for command in _commands(cli_main):
        assert f'id="{command.replace(" ", "-")}"' in html, f"{command} is missing from the CLI reference"
    hessian = cli_main.commands["hessian"]
    assert "<pre><code>  ganmetric hessian --model dcgan-face" in html  # the help's examples, line by line
    flags = [p.opts[0] for p in hessian.params if isinstance(p, click.Option)]
    assert len(flags) > 10 and [f for f in flags if f"<code>{f}" not in html] == []


def test_api_reference_has_every_public_name(site):
    for module, page in API_PAGES.items():
        html = _page(site, page)
        names = [n for n in __import__(module, fromlist=["__all__"]).__all__ if not n.startswith("__")]
        missing = [n for n in names if f'id="{module}.{n}"' not in html]
        assert missing == [], f"{page}: no entry for {missing}"
    assert "ganmetric.metric_tensor" in _page(site, "api/ganmetric") and ganmetric.metric_tensor.__doc__


def test_pages_load_nothing_from_another_host(site):
    """Offline: no web fonts, no CDN scripts or styles in any page (Material's defaults would load Google Fonts)."""
    remote = re.compile(r'<(?:script|link|img|iframe)[^>]+(?:src|href)="(?:https?:)?//', re.I)
    pages = list(site.rglob("*.html"))
    assert len(pages) > 30
    assert [str(p.relative_to(site)) for p in pages if remote.search(p.read_text())] == []


# --- the built site in a browser ---------------------------------------------------------------------------------

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
#: the home page, the reference page of metric_tensor, one example
BROWSED = ["", "api/hessian/#ganmetric.hessian.metric_tensor", "generated/gallery/01_metric_at_a_point/"]

IMAGES = """return Array.from(document.images, (img) => ({src: img.src, complete: img.complete,
                                                      width: img.naturalWidth}));"""
RESOURCES = "return performance.getEntriesByType('resource').map((e) => e.name);"


@pytest.fixture(scope="module")
def served(site):
    """The built site served on 127.0.0.1 (a port of its own) for the duration of the module."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("the browser test needs Debian's chromium and chromium-driver (.ci/run installs them)")
    pytest.importorskip("selenium", reason="the browser test needs selenium (pip install -e \".[test]\")")
    with headless_chromium(window="1280,1000") as driver:
        yield driver


@pytest.mark.browser
@pytest.mark.parametrize("page", BROWSED)
def test_page_in_chromium_has_no_console_error_and_every_image_loaded(served, browser, page):
    from selenium.webdriver.support.ui import WebDriverWait
    browser.get(served + page)
    WebDriverWait(browser, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")
    browser.execute_script("console.error('probe: the log is read')")  # the check below reads a live log
    logs = browser.get_log("browser")
    assert any("probe: the log is read" in e["message"] for e in logs)
    errors = [e["message"] for e in logs if e["level"] == "SEVERE" and "probe: the log is read" not in e["message"]]
    assert errors == [], errors
    images = browser.execute_script(IMAGES)
    assert [i["src"] for i in images if not (i["complete"] and i["width"] > 0)] == []
    if "gallery" in page:
        assert sum("mkd_glr_" in i["src"] for i in images) >= 2  # the example's figures are there, decoded
    assert [url for url in browser.execute_script(RESOURCES) if not url.startswith(served)] == []
    assert browser.find_element("css selector", "article h1").text


# --- bad input: what fails the build -----------------------------------------------------------------------------


def _without_running_examples(project: Path) -> None:
    """Gallery pages are made from the examples without running them (a fast build for the link checks)."""
    config = project / "mkdocs.yml"
    text = config.read_text()
    assert "abort_on_example_error: true" in text
    config.write_text(text.replace("abort_on_example_error: true", "abort_on_example_error: true\n      "
                                   "plot_gallery: false"))


def test_an_example_that_raises_fails_the_build_with_its_traceback(tmp_path):
    project = copy_project(tmp_path, examples=False)
    (project / "examples" / "01_broken.py").write_text(
        '"""\n# A broken example\n\nIt raises.\n"""\nimport ganmetric\n\n'
        'ganmetric.load_generator("dcgan-face")\nraise ValueError("this example is broken on purpose")\n')
    done = build(project)
    assert done.returncode != 0
    assert "Traceback" in done.stderr and "ValueError: this example is broken on purpose" in done.stderr
    assert not (project / "site" / "index.html").exists()


def test_a_broken_link_or_reference_fails_the_build(tmp_path):
    project = copy_project(tmp_path)
    _without_running_examples(project)
    home = project / "docs" / "index.md"
    home.write_text(home.read_text() + "\nSee [a page that is not there](no-such-page.md), "
                    "[an anchor that is not there](cli.md#ganmetric-no-such-command) and "
                    "[a name that is not there][ganmetric.no_such_function].\n")
    done = build(project)
    assert done.returncode != 0
    for what in ("no-such-page.md", "ganmetric-no-such-command", "ganmetric.no_such_function"):
        assert what in done.stderr, f"{what} was not reported:\n{done.stderr[-4000:]}"

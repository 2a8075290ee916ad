r"""MkDocs hooks of the documentation site (``hooks:`` in mkdocs.yml).

- The checkout's own code comes first on ``sys.path`` (the CLI reference imports ``ganmetric_cli``, the examples
  import ``ganmetric``): a site built from a checkout documents that checkout, not another installed copy.
- The CLI reference's example blocks (click's ``\b`` paragraphs) shown as code, line by line, as ``--help``
  prints them.
- Tables generated from the registries at build time, so that they cannot drift from the code: a page writes
  ``<!-- generated: NAME -->`` on a line of its own and gets the table ``NAME`` (see :data:`TABLES`).
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

from mkdocs.exceptions import PluginError

MARKER = re.compile(r"^<!-- generated: ([\w-]+) -->$", re.M)
#: a paragraph of a command's help kept as written (click's ``\b`` blocks: "Examples:" then indented lines)
VERBATIM = re.compile(r"<p>([^<\n]+:)\n((?:  [^\n<]*(?:\n|(?=</p>)))+)</p>")


def _cell(text) -> str:
    """One markdown table cell: no pipes or line breaks inside."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def methods_table() -> str:
    """The methods of ``metric_tensor``, from ``ganmetric.hessian.metric.METHODS``."""
    from ganmetric.hessian.metric import LANCZOS_OPTIONS, METHODS
    kinds = {"full": "the full H", "top-k": "the top k", "either": "full H, or the top k when k is given"}
    rows = ["| method | computes | needs the squared-feature form | options it reads | what it does |",
            "|---|---|---|---|---|"]
    for name, m in METHODS.items():
        options = sorted(m.options | (LANCZOS_OPTIONS if m.kind != "full" else frozenset()))
        rows.append(f"| `{name}` | {kinds[m.kind]} | {'yes' if m.needs_features else 'no'} | "
                    f"{', '.join(f'`{o}`' for o in options) or '-'} | {_cell(m.help)} |")
    return "\n".join(rows)


def _latent_spaces(spaces: dict) -> str:
    return ", ".join(f"`{name}` ({_cell(size)})" for name, size in spaces.items())


def models_table() -> str:
    """The pretrained configs (``pretrained_configs/*.json``) and the model families that build them."""
    from ganmetric.generators import available_configs
    rows = ["| name | family | latent spaces (size) | resolution | weights | description |", "|---|---|---|---|---|---|"]
    for name, cfg in sorted(available_configs().items()):
        weights = cfg.get("weights") or {}
        source = weights.get("package") or weights.get("source") or "-"
        rows.append(f"| `{name}` | `{cfg['family']}` | {_latent_spaces(cfg.get('latent_spaces', {}))} | "
                    f"{cfg.get('resolution', 'from the file')} | {_cell(source)} | {_cell(cfg.get('description', ''))} |")
    return "\n".join(rows)


def distances_table() -> str:
    """The distances ``load_distance`` and ``--distance`` take, from the registry."""
    from ganmetric.distances import distance_entries
    rows = ["| distance | its options (flags) | what it is |", "|---|---|---|"]
    for entry in distance_entries():
        flags = ", ".join(f"`--{o.name.replace('_', '-')}`" + ("" if o.changes_distance else " (not recorded)")
                          for o in entry.options)
        rows.append(f"| `{entry.form}` | {flags or '-'} | {_cell(entry.help)} |")
    return "\n".join(rows)


#: name -> function returning the markdown that replaces ``<!-- generated: name -->``
TABLES = {"methods-table": methods_table, "models-table": models_table, "distances-table": distances_table}


def on_config(config, **kwargs):
    """Put the checkout that holds mkdocs.yml first on sys.path, when it holds the package."""
    root = Path(config.config_file_path).resolve().parent
    if (root / "ganmetric" / "__init__.py").is_file():
        for path in (str(root / "cli"), str(root)):
            if path in sys.path:
                sys.path.remove(path)
            sys.path.insert(0, path)
    return config


def on_page_markdown(markdown: str, page, config, files, **kwargs) -> str:
    """Replace every ``<!-- generated: NAME -->`` line by its table; an unknown NAME fails the build."""
    def table(match):
        name = match.group(1)
        if name not in TABLES:
            raise PluginError(f"{page.file.src_path}: unknown generated table {name!r}; known: {sorted(TABLES)}")
        return TABLES[name]()
    return MARKER.sub(table, markdown)


def on_page_content(html: str, page, config, files, **kwargs) -> str:
    """The command line page: a help paragraph whose lines after the first are indented is shown as code."""
    if page.file.src_path != "cli.md":
        return html
    return VERBATIM.sub(lambda m: f"<p>{m.group(1)}</p>\n<pre><code>{m.group(2).rstrip()}</code></pre>", html)

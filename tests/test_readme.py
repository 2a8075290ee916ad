"""The README's structure: code fences pair up, Python examples parse, contents links reach a heading.

Merges of feature branches that all append to the README once spliced one section's example
into another's and dropped a fence; these checks catch that kind of damage.
"""
import ast
import re
import textwrap
from pathlib import Path

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def _blocks():
    """(language, code) of every fenced block, fences possibly indented (inside a list item)."""
    out, lang, body = [], None, []
    for line in README.splitlines():
        m = re.match(r"^(\s*)```(\w*)\s*$", line)
        if m and lang is None:
            assert m.group(2), f"a code block opens without a language: {line!r} (a lost fence shifts them all)"
            lang, body = m.group(2), []
        elif m:
            assert m.group(2) == "", f"a fence opens ({m.group(2)}) inside an open {lang} block"
            out.append((lang, textwrap.dedent("\n".join(body))))
            lang = None
        elif lang is not None:
            body.append(line)
    assert lang is None, "the README ends inside a code block"
    return out


def test_fences_pair_up_and_python_examples_parse():
    blocks = _blocks()
    python = [code for lang, code in blocks if lang == "python"]
    assert len(python) >= 8
    for code in python:
        ast.parse(code)  # raises SyntaxError with the offending line


def test_no_python_outside_code_blocks():
    """Code lines in running text mean a fence was lost (indented shell examples are fine)."""
    inside, stray = False, []
    for line in README.splitlines():
        if re.match(r"^\s*```", line):
            inside = not inside
        elif not inside and re.match(r"^(from ganmetric|import ganmetric|[A-Za-z_]\w* = ganmetric\.)", line):
            stray.append(line)
    assert stray == []


def test_contents_links_reach_a_heading():
    anchors = {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
               for h in re.findall(r"^#{2,4} (.+)$", README, flags=re.M)}
    links = re.findall(r"\]\(#([\w\-]+)\)", README)
    assert links and not [a for a in links if a not in anchors]

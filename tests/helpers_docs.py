"""Reading and running the code blocks of the README and the documentation pages, as a reader would paste them.

A page's fenced blocks run in page order in one folder: a ``bash`` block's ``ganmetric ...`` commands through the
CLI in-process (other lines, such as ``pip install`` or ``python benchmarks/...``, are not run), a ``python`` block
with ``exec`` in one namespace per page (later blocks use earlier blocks' names and files). ``text`` blocks are
output and are never run.
"""
from __future__ import annotations

import re
import shlex
import textwrap
from pathlib import Path

FENCE = re.compile(r"^(\s*)```(\w*)\s*$")


def fenced_blocks(text: str, where: str) -> list[tuple[str, str]]:
    """(language, code) of every fenced block of ``text``, fences possibly indented (inside a list item).

    Raises AssertionError naming ``where`` for a block without a language (a lost fence shifts them all), a fence
    that opens inside an open block, or text that ends inside a block.
    """
    out, lang, body = [], None, []
    for number, line in enumerate(text.splitlines(), 1):
        m = FENCE.match(line)
        if m and lang is None:
            assert m.group(2), f"{where}:{number}: a code block opens without a language: {line!r}"
            lang, body = m.group(2), []
        elif m:
            assert m.group(2) == "", f"{where}:{number}: a fence opens ({m.group(2)}) inside an open {lang} block"
            out.append((lang, textwrap.dedent("\n".join(body))))
            lang = None
        elif lang is not None:
            body.append(line)
    assert lang is None, f"{where} ends inside a {lang} code block"
    return out


def shell_commands(code: str) -> list[str]:
    """The ``ganmetric ...`` commands of a bash block: continuation lines joined, trailing comments dropped."""
    out, pending = [], None
    for line in code.splitlines():
        if pending is not None:
            pending += " " + line.strip()
        elif line.startswith("ganmetric "):
            pending = line
        if pending is not None and pending.rstrip().endswith("\\"):
            pending = pending.rstrip()[:-1]
        elif pending is not None:
            out.append(re.sub(r"\s+#\s.*$", "", pending).strip())
            pending = None
    return out


def prepare_files(code: str, folder: Path) -> None:
    """The files a block reads that the reader brings (a photograph, two codes, StyleGAN and StyleGAN2 checkpoints), made here
    from the package itself when the block names them and they are not there yet."""
    import numpy as np
    import torch
    from PIL import Image

    import ganmetric
    if "checkpoint/550000.pt" in code and not (folder / "checkpoint" / "550000.pt").exists():
        # a rosinality checkpoint: stylegan2-demo's seeded random weights in that format
        (folder / "checkpoint").mkdir(exist_ok=True)
        torch.save(ganmetric.load_generator("stylegan2-demo").to_checkpoint(), folder / "checkpoint" / "550000.pt")
    if "stylegan-256px-new.model" in code and not (folder / "stylegan-256px-new.model").exists():
        # rosinality's StyleGAN layout, 4 channels wide, seeded random weights
        from ganmetric.generators.stylegan1_layers import StyledGenerator, seeded_random_
        torch.save({"g_running": seeded_random_(StyledGenerator(channels=[4] * 9)).state_dict()},
                   folder / "stylegan-256px-new.model")
    if "photo.jpg" in code and not (folder / "photo.jpg").exists():
        # a 480 x 400 photograph whose box (160, 115, 370, 325) holds a face of the model
        G = ganmetric.load_generator("dcgan-face")
        with torch.no_grad():
            face = G(G.sample(1, seed=5))[0]
        pixels = ((face.permute(1, 2, 0).numpy() + 1) * 127.5).clip(0, 255).astype(np.uint8)
        photo = Image.new("RGB", (480, 400), (90, 110, 130))
        photo.paste(Image.fromarray(pixels).resize((210, 210), Image.BICUBIC), (160, 115))
        photo.save(folder / "photo.jpg", quality=95)
    if "--z-from a.npy" in code and not (folder / "a.npy").exists():
        G = ganmetric.load_generator("dcgan-face")
        np.save(folder / "a.npy", G.sample(1, seed=1).double().numpy()[0])
        np.save(folder / "b.npy", G.sample(1, seed=2).double().numpy()[0])


def substitute(code: str, substitutions) -> str:
    """``code`` with every (text, replacement) of ``substitutions`` applied."""
    for old, new in substitutions:
        code = code.replace(old, new)
    return code


def run_cli(command: str, where: str) -> None:
    """Run one ``ganmetric ...`` command in-process in the current folder; AssertionError with its output if it
    does not exit 0."""
    from click.testing import CliRunner

    from ganmetric_cli.main import main
    res = CliRunner().invoke(main, shlex.split(command)[1:])
    assert res.exit_code == 0, f"{where}: command failed (exit {res.exit_code}): {command}\n{res.output}"


def run_python(code: str, namespace: dict, where: str) -> None:
    """``exec`` one python block in ``namespace``; AssertionError naming the block if it raises."""
    try:
        exec(compile(code, where, "exec"), namespace)
    except Exception as exc:
        raise AssertionError(f"{where} failed: {type(exc).__name__}: {exc}\n{code}") from exc


def fake_serve(app, sock, **kwargs):
    """Stands in for ganmetric.viewer.serve: checks the app answers its own address, then returns."""
    from fastapi.testclient import TestClient
    port = sock.getsockname()[1]
    sock.close()
    assert TestClient(app, base_url=f"http://127.0.0.1:{port}").get("/api/info").status_code == 200

"""The README's structure (code fences pair up, Python examples parse, contents links reach a heading), and
every Python block run, in order, in a temporary folder.

Merges of feature branches that all append to the README once spliced one section's example
into another's and dropped a fence; the structure checks catch that kind of damage. Running
the blocks catches examples that parse but crash (``avg.meta(rs)`` once did).
"""
import ast
import re
import shutil
import textwrap
from pathlib import Path

import pytest

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


#: What running the README's Python blocks here changes, as (README text, what runs instead). Each README
#: text must occur exactly once (a substitution the README no longer matches fails the test). Only sizes
#: (points, steps, restarts, budgets), the network and the server's blocking loop are substituted.
SUBSTITUTIONS = [
    # the StyleGAN2 block: no published checkpoint here; _prepare writes stylegan2-demo's seeded random weights in
    # the rosinality format as checkpoint/550000.pt; LPIPS's pretrained backbone needs the network
    ('D = ganmetric.load_distance("lpips-alex")\n', 'D = ganmetric.load_distance("lpips-alex", lpips_backbone="random")\n'),
    # ... and its top 20 eigenpairs in w+ and w -> 5
    ('metric_tensor(G, D, w, method="gn-lanczos", k=20)', 'metric_tensor(G, D, w, method="gn-lanczos", k=5)'),
    ('metric_tensor(Gw, D, w0, method="gn-lanczos", k=20)', 'metric_tensor(Gw, D, w0, method="gn-lanczos", k=5)'),
    # geometry at scale: 300 points -> 4
    ('codes = batch_codes(G, 300, seed=0, out_dir="face_mse")', 'codes = batch_codes(G, 4, seed=0, out_dir="face_mse")'),
    # inversion: 300 steps, 4 restarts -> 10, 2
    ("steps=300, lr=0.05,\n                       restarts=4,", "steps=10, lr=0.05,\n                       restarts=2,"),
    # the viewer: any free port, and serve() returns at once (a stand-in: _fake_serve)
    ('sock = bind_socket("127.0.0.1", 8765)', 'sock = bind_socket("127.0.0.1", 0)'),
    # black-box optimisation: budgets 204 and 340 over 3 seeds -> 24 over 2
    ("budget=204,", "budget=24,"),
    ('["random", "cma"], seeds=3, budget=340)', '["random", "cma"], seeds=2, budget=24)'),
    # layers: 10 points -> 2
    ('"main.2,main.13", G.sample(10, seed=0),', '"main.2,main.13", G.sample(2, seed=0),'),
    # compression: 100 codes and 5 random bases -> 6 and 2
    ('G.sample(100, seed=1), [1, 2, 5, 10, 20, 50, 100], random_bases=5,',
     'G.sample(6, seed=1), [1, 2, 5, 10, 20, 50, 100], random_bases=2,'),
    # geodesic paths: 16 points -> 6, at most 30 iterations
    ("points=16, init=", "points=6, max_iter=30, init="),
    ('methods="geodesic,linear,slerp", points=16)', 'methods="geodesic,linear,slerp", points=6, max_iter=30)'),
]


def _fake_serve(app, sock, **kwargs):
    """Stands in for ganmetric.viewer.serve: checks the app answers its own address, then returns."""
    from fastapi.testclient import TestClient
    port = sock.getsockname()[1]
    sock.close()
    assert TestClient(app, base_url=f"http://127.0.0.1:{port}").get("/api/info").status_code == 200


def _prepare(code: str, folder: Path) -> None:
    """The files a block reads that no earlier block writes: made here, from the package itself."""
    import numpy as np
    import torch
    from PIL import Image

    import ganmetric
    from ganmetric.axes import export_axes
    if "checkpoint/550000.pt" in code:  # a rosinality checkpoint: stylegan2-demo's seeded random weights
        (folder / "checkpoint").mkdir(exist_ok=True)
        demo = ganmetric.load_generator("stylegan2-demo")
        torch.save(demo.to_checkpoint(), folder / "checkpoint" / "550000.pt")
    if "stylegan-256px-new.model" in code:  # rosinality's StyleGAN layout, 4 channels wide, seeded random weights
        from ganmetric.generators.stylegan1_layers import StyledGenerator, seeded_random_
        torch.save({"g_running": seeded_random_(StyledGenerator(channels=[4] * 9)).state_dict()},
                   folder / "stylegan-256px-new.model")
    if '"axes.npz"' in code and not (folder / "axes.npz").exists():  # the shell's `axes export face.npz --top 10`
        export_axes(folder / "face.npz", top=10, out=folder / "axes.npz")
    if '"photo.jpg"' in code:  # a 480 x 400 photograph whose box (160, 115, 370, 325) holds a face of the model
        G = ganmetric.load_generator("dcgan-face")
        with torch.no_grad():
            face = G(G.sample(1, seed=5))[0]
        pixels = ((face.permute(1, 2, 0).numpy() + 1) * 127.5).clip(0, 255).astype(np.uint8)
        photo = Image.new("RGB", (480, 400), (90, 110, 130))
        photo.paste(Image.fromarray(pixels).resize((210, 210), Image.BICUBIC), (160, 115))
        photo.save(folder / "photo.jpg", quality=95)
    if '"face_avg.npz"' in code and not (folder / "face_avg.npz").exists():  # the shell's `ganmetric average`
        shutil.copy(folder / "face_mse_avg.npz", folder / "face_avg.npz")


def test_substitutions_match_the_readme_once():
    python = "\n".join(code for lang, code in _blocks() if lang == "python")
    for old, _ in SUBSTITUTIONS:
        assert python.count(old) == 1, f"substitution no longer matches the README once: {old!r}"


@pytest.mark.slow  # every Python block with real models, sizes cut: about a minute
@pytest.mark.pretrained("dcgan-face")
@pytest.mark.filterwarnings("ignore::ganmetric.errors.NumericalWarning")  # cut iterations may not converge
def test_every_python_block_runs(tmp_path, monkeypatch):
    """The blocks run in README order in one namespace (later blocks use earlier ones' names and files, as a
    reader's session would), in a temporary folder, offline."""
    pytest.importorskip("fastapi", reason="the viewer's block needs the viewer extra (pip install -e \".[test]\")")
    import ganmetric.viewer
    monkeypatch.setattr(ganmetric.viewer, "serve", _fake_serve)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    namespace = {"__name__": "readme"}
    for i, (lang, code) in enumerate(_blocks()):
        if lang != "python":
            continue
        for old, new in SUBSTITUTIONS:
            code = code.replace(old, new)
        _prepare(code, tmp_path)
        try:
            exec(compile(code, f"README.md python block {i}", "exec"), namespace)
        except Exception as exc:
            raise AssertionError(f"README python block {i} failed: {type(exc).__name__}: {exc}\n{code}") from exc
    for written in ("face.npz", "face_mse", "face_mse_avg.npz", "spectrum.png", "grid.jpg", "face_layers_py",
                    "face_compress_py"):
        assert (tmp_path / written).exists(), written


#: README shell commands (``ganmetric ...`` lines of indented examples) not run here, and why
SHELL_SKIPS = {
    "--model biggan-deep-256": "BigGAN's weights are downloaded (network, extra [biggan])",
    "--model my-stylegan2.json": "a config naming the user's StyleGAN2 checkpoint",
    "--model my_nets:make": "the module the shell heredoc above it writes",
    "ganmetric view ": "serves until Ctrl-C (its start is tested in test_viewer_cli.py)",
    "models fetch deepsim-fc6": "says where to download the published file (tested in test_cli_zoo.py)",
    "models fetch pggan-celebahq-256": "says where to download the published file (tested in test_cli_zoo.py)",
    "--model deepsim-fc6": "the published DeePSim file (downloaded by the user; test_generators_deepsim.py)",
    "--weights upconvGAN_pool5.pt": "the user's DeePSim file",
    "--model pggan-celebahq-256": "the published PGGAN file (downloaded by the user; test_generators_ganzoo.py)",
    "--model my_run_s5_i96000.pth": "the user's pytorch_GAN_zoo file",
    "--model hf://someone/": "a Hugging Face repository (network; test_generators_hub.py builds a cache)",
    "--model stylegan1": "rosinality's StyleGAN checkpoint, downloaded by the user",
    "--model bigbigan": "BigGANsAreWatching's BigBiGAN_x1.pth, downloaded by the user",
}
#: (README text, what runs instead) in shell commands: sizes cut, and the network left out (LPIPS's pretrained
#: backbone -> random). Each README text must occur in some command.
SHELL_SUBSTITUTIONS = [
    ("--distance lpips-alex --resize 256", "--distance lpips-alex --lpips-backbone random"),
    ("--points 300 ", "--points 4 "),
    ("--steps 300 --restarts 4 ", "--steps 5 --restarts 2 "),
    ("--hessian face.npz --steps 300 ", "--hessian face.npz --steps 5 "),
    ("--points 8 --seed 1000 ", "--points 3 --seed 1000 "),
    ("--budget 204 ", "--budget 34 "),
    ("--points 10 --seed 0 --layers", "--points 2 --seed 0 --layers"),
    ("--samples 100 ", "--samples 6 "),
    ("--points 16 --out path12", "--points 6 --max-iter 30 --out path12"),
    ("--points 32 --method geodesic,linear,slerp", "--points 6 --max-iter 30 --method geodesic,linear,slerp "
                                                   "--lpips-backbone random"),
]


def _shell_commands() -> list[tuple[str, str]]:
    """(section heading, command) of every ``ganmetric ...`` line of the README's indented examples (continuation
    lines joined, comments dropped), in order."""
    out, section, pending, fenced = [], "", None, False
    for line in README.splitlines():
        if re.match(r"^\s*```", line):
            fenced = not fenced
        if fenced:
            continue
        if line.startswith("## "):
            section = line[3:].strip()
        text = line[4:] if line.startswith("    ") else None
        if pending is not None:
            pending += " " + (text or "").strip()
        elif text is not None and text.startswith("ganmetric "):
            pending = text
        if pending is not None and not pending.rstrip().endswith("\\"):
            out.append((section, re.sub(r"\s+#\s.*$", "", pending).strip()))
            pending = None
        elif pending is not None:
            pending = pending.rstrip()[:-1]
    return out


def _prepare_shell(command: str, folder: Path) -> None:
    """Files a command reads that the README's reader brings: the photograph, codes to join."""
    import numpy as np

    import ganmetric
    if "photo.jpg" in command:
        _prepare('"photo.jpg"', folder)
    if "--z-from a.npy" in command:
        G = ganmetric.load_generator("dcgan-face")
        np.save(folder / "a.npy", G.sample(1, seed=1).double().numpy()[0])
        np.save(folder / "b.npy", G.sample(1, seed=2).double().numpy()[0])


def test_shell_substitutions_match_a_command():
    commands = [c for _, c in _shell_commands()]
    assert len(commands) >= 25 and all(c.startswith("ganmetric ") for c in commands)
    for old, _ in SHELL_SUBSTITUTIONS:
        assert any(old in c for c in commands), f"shell substitution matches no README command: {old!r}"
    for skip in SHELL_SKIPS:
        assert any(skip in c for c in commands), f"skip matches no README command: {skip!r}"


@pytest.mark.slow  # every offline README command with sizes cut: a few minutes
@pytest.mark.pretrained("dcgan-face")
@pytest.mark.pretrained("eyes-cdcgan")
@pytest.mark.filterwarnings("ignore::ganmetric.errors.NumericalWarning")
def test_every_offline_shell_command_runs(tmp_path, monkeypatch):
    """Each README section's commands run in order in a folder of their own (sections reuse names such as
    face_mse for other runs), through the CLI in-process; each must exit 0."""
    import shlex

    from click.testing import CliRunner

    from ganmetric_cli.main import main
    ran = 0
    for section, command in _shell_commands():
        if any(skip in command for skip in SHELL_SKIPS):
            continue
        for old, new in SHELL_SUBSTITUTIONS:
            command = command.replace(old, new)
        folder = tmp_path / re.sub(r"\W+", "_", section).strip("_")
        folder.mkdir(exist_ok=True)
        monkeypatch.chdir(folder)
        _prepare_shell(command, folder)
        res = CliRunner().invoke(main, shlex.split(command)[1:])
        assert res.exit_code == 0, f"README command failed in section {section!r}: {command}\n{res.output}"
        ran += 1
    assert ran >= 25

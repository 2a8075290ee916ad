"""The documentation pages (docs/*.md), as a reader would paste them: their structure (fences pair up, every python
block parses) and, page by page, every block run in page order in a temporary folder of its own, offline, with
sizes cut (slow tier).

What runs: a ``bash`` block's ``ganmetric ...`` commands (through the CLI, in-process; other lines such as
``pip install`` are not run), and every ``python`` block (one namespace per page). What is changed is listed in
SUBSTITUTIONS (sizes, and LPIPS's pretrained backbone, which needs a network); what is not run is listed in SKIPS,
each with its reason. Both lists must match a page's text, so they cannot outlive what they change.
"""
import ast
from pathlib import Path

import pytest

from helpers_docs import (fake_serve, fenced_blocks, prepare_files, run_cli, run_python, shell_commands,
                          substitute)

DOCS = Path(__file__).resolve().parents[1] / "docs"
#: the hand-written pages (the API pages are generated from docstrings; docs/generated is the gallery's output)
PAGES = sorted(p.name for p in DOCS.glob("*.md"))

#: (text on the page, what runs instead), per page; each text must occur on its page
SUBSTITUTIONS = {
    "engine.md": [
        ("--distance lpips-alex --resize 256", "--distance lpips-alex --lpips-backbone random"),
        ('metric_tensor(G, D, z, method="gn-lanczos", k=20)', 'metric_tensor(G, D, z, method="gn-lanczos", k=5)'),
    ],
    "models.md": [
        # the StyleGAN2 block: no published checkpoint here (prepare_files writes stylegan2-demo's seeded random
        # weights as checkpoint/550000.pt); LPIPS's pretrained backbone needs the network; top 20 -> 5
        ('D = ganmetric.load_distance("lpips-alex")\n', 'D = ganmetric.load_distance("lpips-alex", lpips_backbone="random")\n'),
        ('metric_tensor(G, D, w, method="gn-lanczos", k=20)', 'metric_tensor(G, D, w, method="gn-lanczos", k=5)'),
        ('metric_tensor(Gw, D, w0, method="gn-lanczos", k=20)', 'metric_tensor(Gw, D, w0, method="gn-lanczos", k=5)'),
        # the StyleGAN (1) block: top 10 -> 3
        ('G.sample(1, seed=0), method="gn-lanczos", k=10)', 'G.sample(1, seed=0), method="gn-lanczos", k=3)'),
    ],
    "scale.md": [
        ("--points 300 ", "--points 2 "),
        ('batch_codes(G, 300, seed=0, out_dir="face_mse")', 'batch_codes(G, 2, seed=0, out_dir="face_mse")'),
    ],
    "inversion.md": [
        ("--steps 300 --restarts 4 ", "--steps 5 --restarts 2 "),
        ("--hessian face.npz --steps 300 ", "--hessian face.npz --steps 5 "),
        ("steps=300, lr=0.05,\n                       restarts=4,", "steps=10, lr=0.05,\n                       restarts=2,"),
    ],
    "viewer.md": [
        ('sock = bind_socket("127.0.0.1", 8765)', 'sock = bind_socket("127.0.0.1", 0)'),
    ],
    "optimize.md": [
        ("--points 8 --seed 1000 ", "--points 2 --seed 1000 "),
        ("--budget 204 ", "--budget 24 "),
        ("budget=204,", "budget=24,"),
        ('["random", "cma"], seeds=3, budget=340)', '["random", "cma"], seeds=2, budget=24)'),
    ],
    "layers.md": [
        # one point, two of the five layers (the Python block's two), two samples, two random bases
        ("--points 10 --seed 0 --layers main.2,main.5,main.8,main.11,main.13",
         "--points 1 --seed 0 --layers main.2,main.13"),
        ("--samples 100 ", "--samples 2 --random-bases 2 "),
        ('"main.2,main.13", G.sample(10, seed=0),', '"main.2,main.13", G.sample(1, seed=0),'),
        ('G.sample(100, seed=1), [1, 2, 5, 10, 20, 50, 100], random_bases=5,',
         'G.sample(2, seed=1), [1, 2, 5, 10, 20, 50, 100], random_bases=2,'),
    ],
    "paths.md": [
        ("--points 16 --out path12", "--points 4 --max-iter 10 --out path12"),
        # ... and the default distance, lpips-alex, with the offline backbone
        ("--points 32 --method geodesic,linear,slerp", "--points 4 --max-iter 10 --method geodesic,linear,slerp "
                                                       "--lpips-backbone random"),
        ("points=16, init=", "points=4, max_iter=10, init="),
        ('methods="geodesic,linear,slerp", points=16)', 'methods="geodesic,linear,slerp", points=4, max_iter=10)'),
    ],
}

#: (text of a command or block on the page, why it is not run here), per page; each text must occur on its page
SKIPS = {
    "models.md": {
        "--model biggan-deep-256": "BigGAN's weights are downloaded (network, extra [biggan])",
        "--model my_nets:make": "the module the heredoc above it writes (test_generators_custom.py runs that route)",
        "--distance my_feats:stage3": "the user's classifier weights (test_distances_custom.py runs it on a ResNet-18)",
        "--model my-stylegan2.json": "a config naming the user's StyleGAN2 checkpoint",
        "models fetch deepsim-fc6": "says where to download the published file (tested in test_cli_zoo.py)",
        "--model deepsim-fc6": "the published DeePSim file (downloaded by the user; test_generators_deepsim.py)",
        "--weights upconvGAN_pool5.pt": "the user's DeePSim file",
        "models fetch pggan-celebahq-256": "says where to download the published file (tested in test_cli_zoo.py)",
        "--model pggan-celebahq-256": "the published PGGAN file (downloaded by the user; test_generators_ganzoo.py)",
        "--model my_run_s5_i96000.pth": "the user's pytorch_GAN_zoo file",
        "--model hf://someone/": "a Hugging Face repository (network; test_generators_hub.py builds a cache)",
        "--model ffhq.pkl": "the user's NVIDIA pickle (test_generators_nvidia*.py build pickles in NVIDIA's format)",
        "--model cifar10.pkl": "the user's NVIDIA pickle (test_generators_nvidia*.py build pickles in NVIDIA's format)",
        "--model stylegan3-t-ffhqu-256x256.pkl": "the user's NVIDIA pickle (test_generators_nvidia*.py)",
        "models layers ffhq.pkl": "the user's NVIDIA pickle (test_generators_nvidia_family.py runs it on built pickles)",
        "--model stylegan1-ffhq-256": "rosinality's StyleGAN checkpoint, downloaded by the user (test_generators_stylegan1.py)",
        "--model bigbigan-128": "BigGANsAreWatching's BigBiGAN_x1.pth, downloaded by the user (test_generators_bigbigan.py)",
    },
    "viewer.md": {
        "ganmetric view --axes": "serves until Ctrl-C (its start is tested in test_viewer_cli.py; the Python block runs)",
    },
}

#: pages that need the eye GAN's weights besides dcgan-face's
EYES = {"models.md"}


def _page(name: str) -> str:
    return (DOCS / name).read_text()


@pytest.mark.parametrize("name", PAGES)
def test_fences_pair_up_and_python_blocks_parse(name):
    for lang, code in fenced_blocks(_page(name), f"docs/{name}"):
        if lang == "python":
            ast.parse(code)  # raises SyntaxError with the offending line


def test_substitutions_and_skips_match_their_page():
    assert set(SUBSTITUTIONS) | set(SKIPS) <= set(PAGES)
    for name, pairs in SUBSTITUTIONS.items():
        text = _page(name)
        assert [old for old, _ in pairs if old not in text] == [], f"substitutions that no longer match {name}"
    for name, skips in SKIPS.items():
        commands = [c for lang, code in fenced_blocks(_page(name), name) if lang == "bash"
                    for c in shell_commands(code)]
        assert [s for s in skips if not any(s in c for c in commands)] == [], f"skips that match no {name} command"


def _runnable():
    """The pages with a ganmetric command or a python block, each marked with the weights it needs."""
    out = []
    for name in PAGES:
        blocks = fenced_blocks(_page(name), name)
        if any(lang == "python" or (lang == "bash" and shell_commands(code)) for lang, code in blocks):
            marks = [pytest.mark.pretrained("eyes-cdcgan")] if name in EYES else []
            out.append(pytest.param(name, marks=marks, id=name.removesuffix(".md")))
    return out


@pytest.mark.slow  # each page's commands and Python with real models, sizes cut: 10-60 s a page
@pytest.mark.pretrained("dcgan-face")
@pytest.mark.filterwarnings("ignore::ganmetric.errors.NumericalWarning")  # cut iterations may not converge
@pytest.mark.parametrize("name", _runnable())
@pytest.mark.integration  # page runs
def test_every_block_of_the_page_runs(name, tmp_path, monkeypatch):
    """A page's blocks run in page order in one folder and one namespace, as a reader's session would."""
    pytest.importorskip("fastapi", reason="the viewer's block needs the viewer extra (pip install -e \".[test]\")")
    import ganmetric.viewer
    monkeypatch.setattr(ganmetric.viewer, "serve", fake_serve)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    substitutions, skips = SUBSTITUTIONS.get(name, []), SKIPS.get(name, {})
    namespace, ran = {"__name__": f"docs_{name.removesuffix('.md')}"}, 0
    for i, (lang, code) in enumerate(fenced_blocks(_page(name), name)):
        where = f"docs/{name} block {i}"
        if lang == "bash":
            for command in shell_commands(code):
                if any(skip in command for skip in skips):
                    continue
                command = substitute(command, substitutions)
                prepare_files(command, tmp_path)
                run_cli(command, where)
                ran += 1
        elif lang == "python":
            code = substitute(code, substitutions)
            prepare_files(code, tmp_path)
            run_python(code, namespace, where)
            ran += 1
    assert ran > 0

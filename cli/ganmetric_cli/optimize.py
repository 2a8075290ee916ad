"""``ganmetric optimize``: black-box search in latent space (random, CMA-ES, Hessian-aware CMA-ES)."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from ganmetric import blackbox
from ganmetric.generators import describe_model
from ganmetric.staging import staged_dir

from .codes import CODE_FILES, read_codes
from .common import DISTANCE_FLAGS_IN_WORDS, distance_options, generator_for_basis, model_options
from .errors import EXIT_INTERRUPTED
from .flags import Feeds, bad_value
from .interrupts import stop_on_sigint
from .params import SEED


def _methods(value: str | None, basis) -> list[str]:
    if value is None:
        return ["random", "cma"] + (["hess-cma"] if basis is not None else [])
    names = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [v for v in names if v not in blackbox.METHODS]
    if unknown or not names:
        raise bad_value("methods", f"expected a comma-separated list of {', '.join(blackbox.METHODS)}, got {value}")
    return names


def _report(cmp, folder: Path, written: dict) -> None:
    click.echo(describe_model(cmp.plan.G))
    s = cmp.plan.settings
    click.echo(f"objective: {cmp.plan.objective.description} ({'maximised' if cmp.plan.maximize else 'minimised'}); "
               f"budget {s['budget']} images, popsize {s['popsize']}, sigma0 {s['sigma0']:g}; {cmp.seconds:.1f} s")
    medians, wins, done = cmp.medians(), cmp.wins(), len(cmp.complete_seeds())
    for label in cmp.labels:
        runs = [r for r in cmp.runs if r.label == label]
        if not runs:
            click.echo(f"  {label:<16} not run")
            continue
        line = f"  {label:<16} "
        if done:
            line += f"median best {medians[label]:>11.5g}  wins {wins[label]}/{done}  "
        finals = [f"{r.score:.4g}" + ("*" if r.stopped else "") for r in runs if r.score is not None]
        click.echo(line + "finals: " + (", ".join(finals) or "none"))
    if not done:
        click.echo("no seed ran every method to its budget: no medians or wins")
    if any(r.stopped for r in cmp.runs):
        click.echo("* = run stopped before its budget was spent")
    runs = [n for n in written if n.startswith("best_") and n.endswith(".npy")]
    traces = [n for n in written if n.startswith("trace_")]
    click.echo(f"wrote {folder}/: summary.json, scores.csv, curves.png, best_montage.png, "
               f"{len(traces)} trace_METHOD_sSEED.csv" + (f", {len(runs)} best_METHOD_sSEED.npy/.png" if runs else ""))


@click.command()
@model_options
@distance_options
@click.option("--objective", required=True,
              help="What to maximise: module.path:function (images (B, C, H, W) in [-1, 1] -> B scores), "
                   "unit:torchvision:MODEL:LAYER:CHANNEL[:Y:X] (alexnet, vgg16, resnet50) or image:PATH "
                   "(the negative --distance to a target image).")
@click.option("--objective-weights", default=None,
              help="unit: objectives: pretrained (torchvision ImageNet; the default), random, random:SEED, or a "
                   "state-dict path.")
@click.option("--max-pixels", type=int, default=None,
              help="image: objectives: refuse a larger target image (width x height, read from its header before "
                   "decoding; default 50 megapixels).")
@click.option("--minimize", is_flag=True, help="Minimise the objective instead.")
@click.option("--method", "methods", default=None,
              help="Comma-separated: random, cma, hess-cma. Default: random,cma, plus hess-cma with a basis.")
@click.option("--hessian", "hessian", cls=Feeds, feeds="basis", type=click.Path(dir_okay=False), default=None,
              help="hess-cma's basis: a result or average file of the same model (its eigenvectors).")
@click.option("--axes", "axes_file", cls=Feeds, feeds="basis", type=click.Path(dir_okay=False), default=None,
              help="hess-cma's basis from an axes file instead.")
@click.option("--top", type=int, default=None, help="hess-cma: use the top K directions (default 50).")
@click.option("--eigval-power", type=float, default=None,
              help="hess-cma: scale direction i by (lambda_i / lambda_1)^-P (default 0.5; 0: plain eigenbasis).")
@click.option("--budget", type=int, default=3000, show_default=True, help="Images scored per method and seed.")
@click.option("--seeds", "n_seeds", type=int, default=5, show_default=True, help="Runs per method.")
@click.option("--seed", "first_seed", type=SEED, default=0, show_default=True, help="First seed.")
@click.option("--init", type=click.Choice(["prior", "z"]), default=None,
              help="Starting points: prior (a prior sample per seed, the default) or z (the --z file).")
@click.option("--z", "z_init", type=click.Path(dir_okay=False), default=None,
              help="Starting codes (.npy): one code for all seeds or one row per seed. " + CODE_FILES)
@click.option("--sigma0", type=float, default=0.5, show_default=True,
              help="Initial step, relative to the prior's scale.")
@click.option("--popsize", type=int, default=None, help="Codes per generation (default 4 + floor(3 ln n)).")
@click.option("--batch", type=int, default=None, help="Images per objective call at most (default: a generation).")
@click.option("--out", "-o", "out_dir", type=click.Path(file_okay=False), default="evolve", show_default=True,
              help="Output folder (created with its parents; written whole when the run ends).")
@click.option("--overwrite", is_flag=True,
              help="Replace the outputs of an earlier run in --out (without it such a folder is refused).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def optimize(model_spec, device, dtype, distance_spec, objective, objective_weights, max_pixels, minimize, methods,
             hessian, axes_file, top, eigval_power, budget, n_seeds, first_seed, init, z_init, sigma0, popsize, batch,
             out_dir, overwrite, quiet):
    """Search the latent space for images that maximise a black-box score.

    Runs each method from the same seeds and starting points with the same budget of
    scored images. hess-cma runs CMA-ES on c in z = z_init + U_k diag(s) c, U_k the top
    --top eigenvectors of a metric (--hessian or --axes), s_i = (lambda_i/lambda_1)^-P.
    Ctrl-C stops after the current generation and writes everything so far ("interrupted":
    true in summary.json, exit status 130). The folder is written whole when the run ends (a
    folder holding an earlier run's files needs --overwrite).

    \b
    Examples:
      ganmetric optimize --model dcgan-face --objective unit:torchvision:alexnet:features.10:3 \\
          --objective-weights random --budget 600 --seeds 3 --out evolve
      ganmetric optimize --objective my_scores:score --method cma,hess-cma --hessian avg.npz --top 50 --out evolve
    """
    if hessian and axes_file:
        raise click.UsageError("give one basis: --hessian or --axes")
    if (init == "z" and z_init is None) or (init == "prior" and z_init is not None):
        raise bad_value("init", "--init z needs --z FILE; --init prior takes no --z")
    if n_seeds < 1:
        raise bad_value("n_seeds", f"must be at least 1, got {n_seeds}")
    basis = hessian or axes_file
    names = _methods(methods, basis)
    if ("hess-cma" in names) != (basis is not None):
        raise click.UsageError("hess-cma needs a basis, --hessian FILE (a metric result or average) or --axes FILE, "
                               "and a basis is used only by hess-cma")
    G = generator_for_basis(model_spec, basis, device, dtype)
    if not objective.startswith("image:") and distance_spec != type(distance_spec)():
        raise click.UsageError(f"{DISTANCE_FLAGS_IN_WORDS} apply to image: objectives only")
    D = distance_spec.load(device=device, dtype=dtype) if objective.startswith("image:") else None
    plan = blackbox.prepare_optimization(
        G, objective, names, seeds=list(range(first_seed, first_seed + n_seeds)), basis=basis,
        top=top, eigval_power=eigval_power, budget=budget, sigma0=sigma0, popsize=popsize, batch=batch,
        minimize=minimize, z_init=read_codes(z_init, G.latent_dim, argument="z_init") if z_init else None, distance=D,
        objective_weights=objective_weights, max_pixels=max_pixels)
    folder = blackbox.check_folder(plan, out_dir, overwrite=overwrite)
    with staged_dir(folder, outputs=blackbox.OUTPUT_PATTERNS, overwrite=overwrite, what="optimize") as stage:
        with stop_on_sigint("generation") as stop:
            cmp = blackbox.run_comparison(plan, stop=stop, progress=not quiet)
        written = blackbox.write_outputs(cmp, stage)
    _report(cmp, folder, written)
    if cmp.stopped == "interrupted":
        click.echo(f"Interrupted: {len(cmp.runs)} run(s) so far are written in {folder}.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    if cmp.stopped:
        raise click.ClickException(f"{cmp.stopped}; the run stopped, and what it had is written in {folder}")

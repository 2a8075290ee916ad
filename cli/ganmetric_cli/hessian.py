"""``ganmetric hessian``: the metric tensor at one latent point."""
from __future__ import annotations

import click
from click.core import ParameterSource

import ganmetric
from ganmetric.distances import describe_distance
from ganmetric.generators import describe_model
from ganmetric.io import check_suffix, check_writable

from .codes import CODE_FILES, read_codes
from .common import distance_options, metric_options, model_options, refuse_unused
from .flags import bad_value
from .params import SEED


@click.command()
@model_options
@distance_options
@click.option("--seed", type=SEED, default=0, show_default=True,
              help="Draw z from the model's prior with this seed (point 0 of `ganmetric batch --seed` with the same "
                   "seed).")
@click.option("--z", "z_file", type=click.Path(dir_okay=False), default=None,
              help="Use this latent point instead: a .npy of shape (n,) or (1, n). " + CODE_FILES)
@metric_options
@click.option("--out", "-o", type=click.Path(dir_okay=False), default="hessian.npz", show_default=True,
              help="Result file (.npz: eigvals, eigvecs, z, H when full, meta JSON).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def hessian(model_spec, device, dtype, distance_spec, seed, z_file, solver, out, quiet):
    """Compute the metric tensor H(z0) of a generator at one latent point.

    H(z0) is the Hessian of d(G(z0), G(z)) at z = z0. Prints the model and distance as
    recorded, the top eigenvalues, the trace, how many eigen-directions hold 99% of the
    trace (the anisotropy count that `ganmetric spectrum` reports for the same file), the
    method and the time, and writes a result file readable with numpy.load(out,
    allow_pickle=False) whose meta records everything that made it. Options the chosen
    method does not use (--eps, --max-iter, --tol, --chunk) are refused, not ignored.

    \b
    Examples:
      ganmetric hessian --model dcgan-face --distance mse --seed 0 --out face.npz
      ganmetric hessian --model dcgan-face --distance lpips-alex --resize 256 --out face_lpips.npz
      ganmetric hessian --model dcgan-face --distance mse --method gn-lanczos --k 20 --out top20.npz
    """
    check_writable(check_suffix(out, (".npz",), "a ganmetric result file (.npz)", argument="out"), argument="out")
    G = model_spec.load(device=device, dtype=dtype)
    D = distance_spec.load(device=device, dtype=dtype)
    z = _base_point(G, z_file, seed)
    refuse_unused(solver, D, G.latent_dim)
    res = ganmetric.metric_tensor(G, D, z, progress=not quiet, **solver)
    res.save(out, seed=None if z_file else seed, z_file=z_file, device=str(device))
    s = res.summary()
    click.echo(describe_model(G))
    click.echo(f"distance {describe_distance(D)}  method={s['method']}  {s['seconds']:.2f} s")
    click.echo("top eigenvalues: " + ", ".join(f"{v:.4g}" for v in s["top_eigvals"]))
    click.echo(_anisotropy_line(res, s))
    if res.residuals is not None:
        rel = float(res.residuals.max() / res.eigvals.abs().max())
        click.echo(f"max relative residual ||Hv - lv||/l_max: {rel:.2e}  converged: {res.converged}")
    click.echo(f"wrote {out}")


def _base_point(G, z_file, seed):
    """The code from --z (exactly one), or drawn with --seed; --seed given with --z is refused."""
    if z_file is None:
        return G.sample(1, seed=seed)
    if click.get_current_context().get_parameter_source("seed") is not ParameterSource.DEFAULT:
        raise click.UsageError("--seed draws the point and --z gives it: use one of them")
    codes = read_codes(z_file, G.latent_dim)
    if codes.shape[0] != 1:
        raise bad_value("z_file", f"expected one code of size {G.latent_dim}, got {codes.shape[0]}")
    return codes


def _anisotropy_line(res, s) -> str:
    """The trace and the 99% anisotropy count (``ganmetric.linalg.anisotropy_counts``) of a full result; for a
    top-k result what is known: the top k's share of the trace when H was computed, else that the trace is not."""
    if s["n99"] is None:
        return "the eigenvalues are all zero (or not finite): no anisotropy count"
    if res.H is not None and res.k == res.dim:
        return f"trace: {s['trace']:.4g}   eigen-directions holding 99% of it: {s['n99']} of {res.k}"
    top = f"sum of the top {res.k}: {s['total']:.4g}"
    if s["trace_share"] is None:
        return f"{top}   trace unknown (a top-k result): the top {res.k}'s share of it is not known"
    reach = (f"99% of it in the top {s['n99_of_trace']}" if s["n99_of_trace"] is not None
             else f"99% of it needs more than {res.k} eigen-directions")
    return f"trace: {s['trace']:.4g}   {top}, {s['trace_share']:.1%} of it; {reach}"

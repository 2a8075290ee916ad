"""``ganmetric hessian``: the metric tensor at one latent point."""
from __future__ import annotations

from contextlib import contextmanager

import click
from click.core import ParameterSource

import ganmetric
from ganmetric import METHODS
from ganmetric.hessian import resolve_method, unused_options
from ganmetric.io import check_writable

from .common import distance_options, load_dist, load_model, model_options, read_codes

METHOD_HELP = "; ".join(f"{name}: {m.help}" for name, m in METHODS.items())
#: metric_tensor's argument -> this command's flag, so that refusals and bad values name the flag.
SOLVER_FLAGS = {"k": "--k", "chunk": "--chunk", "eps": "--eps", "max_iter": "--max-iter", "tol": "--tol"}


@click.command()
@model_options
@distance_options
@click.option("--seed", type=int, default=0, show_default=True, help="Draw z from the model's prior with this seed.")
@click.option("--z", "z_file", type=click.Path(dir_okay=False), default=None,
              help="Use this latent point instead: a .npy of shape (n,) or (1, n).")
@click.option("--method", type=click.Choice(list(METHODS)), default="auto", show_default=True, help=METHOD_HELP)
@click.option("--k", type=int, default=None,
              help="Top-k eigenpairs (default: all for full methods, 20 for iterative ones).")
@click.option("--chunk", type=int, default=None,
              help="Codes per batched pass (lower it to bound memory; bp and backward-iter do not batch).")
@click.option("--eps", type=float, default=None, help="forward-iter only: step relative to |z0|, > 0 (default 1e-3).")
@click.option("--max-iter", type=int, default=None, help="Lanczos methods only: products at most (at least k).")
@click.option("--tol", type=float, default=None, help="Lanczos methods only: relative residual tolerance, > 0.")
@click.option("--out", "-o", type=click.Path(dir_okay=False), default="hessian.npz", show_default=True,
              help="Result file (.npz: eigvals, eigvecs, z, H when full, meta JSON).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def hessian(model, latent_space, latent_dim, output_range, class_name, device, dtype, distance, lpips_backbone,
            resize, seed, z_file, method, k, chunk, eps, max_iter, tol, out, quiet):
    """Compute the metric tensor H(z0) of a generator at one latent point.

    H(z0) is the Hessian of d(G(z0), G(z)) at z = z0. Prints the top eigenvalues, the
    trace, how many eigen-directions hold 99% of the trace (the anisotropy count that
    `ganmetric spectrum` reports for the same file), the method and the time, and writes a
    result file readable with numpy.load(out, allow_pickle=False). Options the chosen
    method does not use (--eps, --max-iter, --tol, --chunk) are refused, not ignored.

    \b
    Examples:
      ganmetric hessian --model dcgan-face --distance mse --seed 0 --out face.npz
      ganmetric hessian --model dcgan-face --distance lpips-alex --resize 256 --out face_lpips.npz
      ganmetric hessian --model dcgan-face --distance mse --method gn-lanczos --k 20 --out top20.npz
    """
    check_writable(out)
    G = load_model(model, latent_space, latent_dim, output_range, class_name, device, dtype)
    D = load_dist(distance, lpips_backbone, resize, device, dtype)
    z = _base_point(G, z_file, seed)
    _refuse_unused(method, D, G.latent_dim, k, chunk=chunk, eps=eps, max_iter=max_iter, tol=tol)
    with _flags_for_arguments(SOLVER_FLAGS):
        res = ganmetric.metric_tensor(G, D, z, method=method, k=k, chunk=chunk, eps=eps, max_iter=max_iter,
                                      tol=tol, progress=not quiet)
    meta = {"model": G.name, "latent_space": G.latent_space, "distance": D.name, "distance_options": D.options,
            "seed": None if z_file else seed, "z_file": z_file, "device": str(device)}
    ganmetric.save_result(out, res, **meta)
    s = res.summary()
    click.echo(f"{G.name} [{G.latent_space}, n={G.latent_dim}]  distance={D.name}  method={s['method']}  "
               f"{s['seconds']:.2f} s")
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
        raise click.BadParameter(f"expected one code of size {G.latent_dim}, got {codes.shape[0]}", param_hint="--z")
    return codes


def _refuse_unused(method, D, n, k, **given):
    """Refuse solver flags that the method (auto resolved) would not read, instead of ignoring them."""
    unused = unused_options(method, D.has_features, n, k, [name for name, v in given.items() if v is not None])
    if unused:
        resolved = resolve_method(method, D.has_features, n, k)
        which = resolved if method == resolved else f"{method} (here {resolved})"
        flags = ", ".join(SOLVER_FLAGS[name] for name in unused)
        raise click.UsageError(f"{flags} {'is' if len(unused) == 1 else 'are'} not used by method {which}; "
                               f"leave {'it' if len(unused) == 1 else 'them'} out or choose a method that uses "
                               f"{'it' if len(unused) == 1 else 'them'}")


@contextmanager
def _flags_for_arguments(flags: dict):
    """Report the library's InputError about one of these arguments as a bad value of its flag."""
    try:
        yield
    except ganmetric.InputError as exc:
        argument = getattr(exc, "argument", None)
        if argument not in flags:
            raise
        raise click.BadParameter(str(exc).splitlines()[0], param_hint=flags[argument]) from None


def _anisotropy_line(res, s) -> str:
    """The trace and the 99% anisotropy count (``ganmetric.linalg.anisotropy_counts`` of the stored eigenvalues)."""
    if s["n99"] is None:
        return "the eigenvalues are all zero (or not finite): no anisotropy count"
    held = f"eigen-directions holding 99% of it: {s['n99']} of {res.k}"
    if res.H is not None and res.k == res.dim:
        return f"trace: {s['trace']:.4g}   {held}"
    trace = f"trace: {s['trace']:.4g}   " if s["trace"] is not None else ""
    return f"{trace}sum of the top {res.k}: {s['total']:.4g}   {held}"

"""``ganmetric hessian``: the metric tensor at one latent point."""
from __future__ import annotations


import click

import ganmetric
from ganmetric.hessian.metric import METHODS
from ganmetric.io import check_writable

from .common import distance_options, load_dist, load_model, model_options, read_codes

METHOD_HELP = "; ".join(f"{k}: {v[0]}" for k, v in METHODS.items())


@click.command()
@model_options
@distance_options
@click.option("--seed", type=int, default=0, show_default=True, help="Draw z from the model's prior with this seed.")
@click.option("--z", "z_file", type=click.Path(dir_okay=False), default=None,
              help="Use this latent point instead: a .npy of shape (n,) or (1, n).")
@click.option("--method", type=click.Choice(list(METHODS)), default="auto", show_default=True, help=METHOD_HELP)
@click.option("--k", type=int, default=None, help="Top-k eigenpairs (default: all for full methods, 20 for iterative ones).")
@click.option("--chunk", type=int, default=None, help="Codes per batched pass (lower it to bound memory).")
@click.option("--eps", type=float, default=1e-3, show_default=True, help="forward-iter step, relative to |z0|.")
@click.option("--max-iter", type=int, default=None, help="Lanczos steps at most.")
@click.option("--tol", type=float, default=None, help="Lanczos relative residual tolerance.")
@click.option("--out", "-o", type=click.Path(dir_okay=False), default="hessian.npz", show_default=True,
              help="Result file (.npz: eigvals, eigvecs, z, H when full, meta JSON).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def hessian(model, latent_space, latent_dim, output_range, class_name, device, dtype, distance, lpips_backbone,
            resize, seed, z_file, method, k, chunk, eps, max_iter, tol, out, quiet):
    """Compute the metric tensor H(z0) of a generator at one latent point.

    H(z0) is the Hessian of d(G(z0), G(z)) at z = z0. Prints the top eigenvalues, the
    trace, how many eigen-directions hold 99% of the trace, the method and the time, and
    writes a result file readable with numpy.load(out, allow_pickle=False).

    \b
    Examples:
      ganmetric hessian --model dcgan-face --distance mse --seed 0 --out face.npz
      ganmetric hessian --model dcgan-face --distance lpips-alex --resize 256 --out face_lpips.npz
      ganmetric hessian --model dcgan-face --distance mse --method gn-lanczos --k 20 --out top20.npz
    """
    check_writable(out)
    G = load_model(model, latent_space, latent_dim, output_range, class_name, device, dtype)
    if k is not None and not 1 <= k <= G.latent_dim:
        raise click.BadParameter(f"must be between 1 and the latent size {G.latent_dim}, got {k}", param_hint="--k")
    D = load_dist(distance, lpips_backbone, resize, device, dtype)
    if z_file is not None:
        codes = read_codes(z_file, G.latent_dim)
        if codes.shape[0] != 1:
            raise click.BadParameter(f"expected one code of size {G.latent_dim}, got {codes.shape[0]}",
                                     param_hint="--z")
        z = codes
    else:
        z = G.sample(1, seed=seed)
    res = ganmetric.metric_tensor(G, D, z, method=method, k=k, chunk=chunk, eps=eps, max_iter=max_iter, tol=tol,
                                  progress=not quiet)
    meta = {"model": G.name, "latent_space": G.latent_space, "distance": D.name, "distance_options": D.options,
            "seed": None if z_file else seed, "z_file": z_file, "device": str(device)}
    ganmetric.save_result(out, res, **meta)
    s = res.summary()
    click.echo(f"{G.name} [{G.latent_space}, n={G.latent_dim}]  distance={D.name}  method={s['method']}  "
               f"{s['seconds']:.2f} s")
    click.echo("top eigenvalues: " + ", ".join(f"{v:.4g}" for v in s["top_eigvals"]))
    what = "trace" if res.H is not None else f"sum of top {res.k}"
    click.echo(f"{what}: {s['trace']:.4g}   eigen-directions holding 99% of it: {s['n99']} of {res.k}")
    if res.residuals is not None:
        rel = float(res.residuals.max() / res.eigvals.abs().max())
        click.echo(f"max relative residual ||Hv - lv||/l_max: {rel:.2e}  converged: {res.converged}")
    click.echo(f"wrote {out}")

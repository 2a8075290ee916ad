"""``ganmetric axes export|apply|compare`` and ``ganmetric explore``: metric eigenvectors as latent axes."""
from __future__ import annotations

from pathlib import Path

import click
import numpy as np

import ganmetric
from ganmetric import axes as gax
from ganmetric.io import atomic_write_bytes, check_writable, npy_bytes, write_json
from ganmetric.plotting import save_image
from ganmetric.staging import written_together

from ganmetric.distances import describe_distance, load_recorded_distance
from ganmetric.generators import describe_model, load_recorded_generator

from .codes import CODE_FILES, read_codes
from .common import distance_options, model_options
from .flags import bad_value
from .params import SEED, IntList, SeedList


def _model_for(axes, model_spec, device, dtype):
    """The generator the axes were made with (what --model and its options restate must match)."""
    return load_recorded_generator(axes.meta, model_spec, device=device, dtype=dtype, what=_what(axes))


def _dist_for(axes, distance_spec, device, dtype):
    """The distance the axes were computed with (what --distance and its options restate must match)."""
    return load_recorded_distance(axes.meta, distance_spec, device=device, dtype=dtype, what=_what(axes))


def _what(axes) -> str:
    return f"the axis file {axes.path.name}" if axes.path is not None else "the axes"


def _reference(G, axes, z_file, seed, *, single: bool = True):
    """Codes from --z, else the library's default reference (--seed, else the axes' source point)."""
    if z_file is not None and seed is not None:
        raise click.UsageError("give --z or --seed, not both")
    if z_file is None:
        return gax.reference_code(axes, G, seed)
    codes = read_codes(z_file, G.latent_dim)
    if single and codes.shape[0] != 1:
        raise bad_value("z_file", f"expected one code of size {G.latent_dim}, got {codes.shape[0]}")
    return codes, f"z file {z_file}"


@click.group()
def axes():
    """Metric eigenvectors as latent axes: export them, apply them, compare them with GANSpace, SeFa or your own.

    See also `ganmetric explore` for montages, calibrated steps and distance curves.
    """


@axes.command("export")
@click.argument("result_or_path", metavar="RESULT", type=click.Path(dir_okay=False))
@click.option("--top", "-k", type=int, default=10, show_default=True, help="How many axes (top-K eigenvectors).")
@click.option("--out", "-o", type=click.Path(dir_okay=False), default="axes.npz", show_default=True,
              help="Axis file (.npz: axes (K, n), eigvals, points, meta JSON).")
def export(result_or_path, top, out):
    """Write the top-K eigenvectors of RESULT (a single-point or average metric file) as an axis file.

    The file records a reference point: a single-point metric's own point; for an average,
    whose mean code is far shorter than a sample, the mean code rescaled to the averaged
    points' mean length (said in the output and the file's meta "reference").

    \b
    Example:
      ganmetric hessian --model dcgan-face --distance mse --seed 0 --out face.npz
      ganmetric axes export face.npz --top 10 --out axes.npz
    """
    check_writable(gax.check_output(out, "npz", argument="out"), argument="out")
    ax = gax.export_axes(result_or_path, top=top, out=out)
    click.echo(f"{ax.model} [{ax.latent_space}, n={ax.latent_dim}]  distance={ax.distance}  "
               f"source={ax.meta['source']['kind']} ({ax.points.shape[0]} point(s))")
    click.echo("eigenvalues: " + ", ".join(f"{v:.4g}" for v in ax.eigvals))
    if ax.meta.get("reference"):
        click.echo(f"reference point: {ax.meta['reference']}")
    click.echo(f"wrote {out}")


@axes.command("apply")
@model_options
@click.option("--axes", "axes_file", type=click.Path(dir_okay=False), required=True, help="Axis file.")
@click.option("--axis", "-i", "i", type=int, required=True, help="Axis index (0 = top eigenvector).")
@click.option("--amount", "-t", "t", type=float, required=True,
              help="Linear: latent distance t in z + t u. With --sphere: rotation angle in radians.")
@click.option("--z", "z_file", type=click.Path(dir_okay=False), default=None,
              help="Codes to edit: a .npy of shape (n,) or (N, n). " + CODE_FILES)
@click.option("--seed", type=SEED, default=None, help="Edit the code drawn with this seed.")
@click.option("--sphere", is_flag=True, help="Rotate toward the axis on the sphere of radius |z| (norm kept).")
@click.option("--scale", type=int, default=1, show_default=True,
              help="Upscale each image by this integer factor (nearest neighbour).")
@click.option("--out", "-o", type=click.Path(dir_okay=False), default="edited.png", show_default=True,
              help="Edited image, PNG or JPEG by the suffix (several codes: OUT_0.png, OUT_1.png, ...).")
@click.option("--codes-out", type=click.Path(dir_okay=False), default=None,
              help="Edited codes .npy (default: OUT with suffix .npy).")
def apply(model_spec, device, dtype, axes_file, i, t, z_file, seed, sphere, scale, out, codes_out):
    """Move latent codes along one axis and write the edited image(s) and codes.

    Without --z or --seed, the code is the point the axes came from (single-point metrics).
    The model defaults to the one the axes were made for.

    \b
    Examples:
      ganmetric axes apply --axes axes.npz --axis 0 --amount 2.0 --seed 3 --out edited.png
      ganmetric axes apply --axes axes.npz --axis 1 --amount 0.2 --sphere --z codes.npy --out edited.jpg --scale 4
    """
    out = check_writable(gax.check_output(out, "image", argument="out"), argument="out")
    codes_out = check_writable(gax.check_output(codes_out or out.with_suffix(".npy"), "codes", argument="codes_out"),
                               argument="codes_out")
    ax = gax.load_axes(axes_file)
    G = _model_for(ax, model_spec, device, dtype)
    z, where = _reference(G, ax, z_file, seed, single=False)
    edited = gax.apply_axis(z, ax, i, t, sphere=sphere)
    images = gax.render_images(G, edited, scale=scale)
    paths = [out] if len(edited) == 1 else [out.with_name(f"{out.stem}_{j}{out.suffix}") for j in range(len(edited))]
    with written_together():  # the images and the codes, or none of them
        for img, path in zip(images, paths):
            save_image(img, path)
        atomic_write_bytes(codes_out, npy_bytes(edited))
    how = f"rotated {t:+g} rad toward" if sphere else f"moved {t:+g} along"
    click.echo(describe_model(G))
    click.echo(f"{len(edited)} code(s) from {where} {how} axis {i} (eigenvalue {ax.eigvals[i]:.4g})")
    norms = np.linalg.norm(np.asarray(z, dtype=np.float64), axis=1)
    click.echo(f"|z| before: {', '.join(f'{v:.4f}' for v in norms[:4])}   after: "
               f"{', '.join(f'{v:.4f}' for v in np.linalg.norm(edited, axis=1)[:4])}")
    click.echo(f"wrote {paths[0]}" + (f" ... {paths[-1]}" if len(paths) > 1 else "") + f" and {codes_out}")


def _plain(value) -> str:
    """A setting as a user reads it: lists comma-separated, not as Python lists."""
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


@axes.command("compare")
@model_options
@click.argument("result", type=click.Path(dir_okay=False))
@click.option("--k", type=int, default=None,
              help="Size of the top metric eigenspace  [default: 10, or the eigenpairs RESULT holds when fewer].")
@click.option("--n-directions", type=int, default=None,
              help="Directions per method  [default: 10, or the latent size when smaller].")
@click.option("--methods", default="ganspace,sefa", show_default=True,
              help="Comma-separated, or none (only --directions): "
                   + "; ".join(f"{name}: {what}" for name, what in gax.DISCOVERY_METHODS.items()) + ".")
@click.option("--directions", "direction_files", multiple=True, type=click.Path(dir_okay=False),
              help="Your own directions: a .npy of shape (m, n) or (n,), one per row (InterFaceGAN boundaries, "
                   "hand-made ones); rows are normalised. Repeat for several files; each is named by its stem.")
@click.option("--samples", "n_samples", type=int, default=5000, show_default=True, help="GANSpace: codes sampled.")
@click.option("--layer", default=None,
              help="GANSpace: module name of the layer whose activations are PCA'd, or 'output' "
                   "(default: the first non-linearity, e.g. main.2 for a DCGAN).")
@click.option("--seed", type=SEED, default=0, show_default=True, help="GANSpace: seed of the samples.")
@click.option("--sefa-layers", default=None,
              help="SeFa on StyleGAN2: synthesis layers whose style weights are factorised, by the SeFa authors' "
                   "indices (0 = conv1, then convs.0, ..., the last index the final toRGB; e.g. 0-3,5) or module "
                   "names (conv1,convs.0,to_rgb1,...) (default: all of the authors' layers); an NVIDIA .pkl: the w+ "
                   "row a layer reads, or its name (synthesis.b8.conv0, synthesis.L3_52_512, ...).")
@click.option("--out", "-o", type=click.Path(dir_okay=False), default="compare.csv", show_default=True,
              help="CSV, one row per direction: method, index, rayleigh_ratio, topk_energy.")
@click.option("--angles-out", type=click.Path(dir_okay=False), default=None,
              help="CSV of the principal angles per method: method, directions, rank, angle_deg "
                   "(default: OUT_angles.csv).")
@click.option("--meta-out", type=click.Path(dir_okay=False), default=None,
              help="JSON saying what made the tables: the metric file, each method's settings (SeFa's variant "
                   "and layers, GANSpace's layer, samples and seed, files) (default: OUT_meta.json).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def compare(model_spec, device, dtype, result, k, n_directions, methods, direction_files, n_samples, layer, seed,
            sefa_layers, out, angles_out, meta_out, quiet):
    """Align GANSpace, SeFa and your own directions with the metric of RESULT (point or average).

    For each direction v: v^T H v / lambda_max and the fraction of |v|^2 in the top-k metric
    eigenspace; per method, the principal angles between the span of its first k directions
    and that eigenspace (a separate table: the j-th angle belongs to the pair of subspaces,
    not to direction j). The model defaults to the one RESULT was computed for.

    \b
    Examples:
      ganmetric axes compare face.npz --k 10 --out compare.csv
      ganmetric axes compare face.npz --directions smile.npy --methods sefa --out compare.csv
      ganmetric axes compare sg2_w.npz --methods sefa,sefa-unnormalised --sefa-layers 0-3 --out early.csv
    """
    out = gax.check_output(out, "csv", argument="out")
    angles_out = gax.check_output(angles_out or out.with_name(f"{out.stem}_angles.csv"), "csv", argument="angles_out")
    meta_out = gax.check_output(meta_out or out.with_name(f"{out.stem}_meta.json"), "json", argument="meta_out")
    for path, argument in ((out, "out"), (angles_out, "angles_out"), (meta_out, "meta_out")):
        check_writable(path, argument=argument)
    wanted = gax.discovery_methods(methods, sefa_layers=sefa_layers)
    res = ganmetric.load_result(result)
    dirs = [gax.load_directions(f, latent_dim=res.dim) for f in direction_files]
    gax.compare_directions(res, dirs, k=k)  # checks k and the files against the metric before GANSpace's sampling
    if wanted:
        G = load_recorded_generator(res.meta, model_spec, device=device, dtype=dtype,
                                    what=f"the result {Path(result).name}")
        dirs = gax.discovered_directions(G, wanted, n_directions=n_directions, sefa_layers=sefa_layers,
                                         n_samples=n_samples, seed=seed, layer=layer, progress=not quiet) + dirs
    if not dirs:
        raise bad_value("methods", "nothing to compare: give a method or --directions")
    cmp = gax.compare_directions(res, dirs, k=k)
    with written_together():
        atomic_write_bytes(out, cmp.to_csv().encode())
        atomic_write_bytes(angles_out, cmp.angles_to_csv().encode())
        write_json(meta_out, {**cmp.summary(), "outputs": {"rows": str(out), "angles": str(angles_out)}})
    where = "full H" if res.full else f"rank-{res.eigvals.shape[0]} reconstruction of H"
    click.echo(f"{res.meta.get('model')}: {res.meta.get('kind', 'point')} metric ({where}), "
               f"lambda_max={cmp.lambda_max:.4g}")
    for d in dirs:
        click.echo(f"{d.method}: " + ", ".join(f"{key}={_plain(val)}" for key, val in d.info.items()))
    click.echo(cmp.table())
    click.echo(f"wrote {out}, {angles_out} and {meta_out}")


def _explore_outputs(out, curves, action_out, steps_out, action_seeds, calibrate):
    """The files explore writes, each checked (suffix, folder) before any work."""
    out = gax.check_output(out, "image", argument="out")
    action_out = gax.check_output(action_out or out.with_name(f"{out.stem}_action{out.suffix}"), "image",
                                  argument="action_out") if action_seeds else None
    curves = gax.check_output(curves, "curves", argument="curves") if curves else None
    steps_out = gax.check_output(steps_out or out.with_name(f"{out.stem}_steps.csv"), "csv",
                                 argument="steps_out") if calibrate is not None else None
    for path, argument in ((out, "out"), (curves, "curves"), (action_out, "action_out"), (steps_out, "steps_out")):
        if path is not None:
            check_writable(path, argument=argument)
    return out, curves, action_out, steps_out


def _print_calibration(cal, indices, distance_name, sphere):
    unit = " rad" if sphere else ""
    err = cal.max_relative_error()
    quality = "no target reached" if np.isnan(err) else f"max relative error {err:.1e} over the reached targets"
    click.echo(f"calibrated to {distance_name} distances {', '.join(f'{d:.4g}' for d in cal.targets)} "
               f"({quality}, {cal.evaluations} batched passes)")
    for r, i in enumerate(indices):
        click.echo(f"  axis {i:>3}  steps{unit}: " + " ".join(f"{t:+.3f}" for t in cal.steps[r])
                   + "   achieved: " + " ".join(f"{d:.4g}" for d in cal.distances[r]))
    for r in cal.unreached_rows():
        neg, pos = cal.largest[r]
        click.echo(f"  axis {indices[r]:>3}  targets not reached within |t| <= {cal.max_step:.3g}{unit} (the search "
                   f"bound): largest distance found {neg:.4g} for t < 0, {pos:.4g} for t > 0 (marked in red)")


@click.command()
@model_options
@distance_options
@click.option("--axes", "axes_file", type=click.Path(dir_okay=False), required=True, help="Axis file.")
@click.option("--z", "z_file", type=click.Path(dir_okay=False), default=None,
              help="Reference code (.npy, one code). " + CODE_FILES)
@click.option("--seed", type=SEED, default=None, help="Reference code drawn with this seed (default: the axes' "
                                                      "source point).")
@click.option("--axes-list", "indices", type=IntList(), default="0,1,2,3,4", show_default=True,
              help="Axis indices, one row each.")
@click.option("--steps", type=int, default=7, show_default=True, help="Images per row (odd: reference in the middle).")
@click.option("--range", "amount_range", type=float, default=3.0, show_default=True,
              help="Largest |t|: latent units, or radians with --sphere.")
@click.option("--sphere", is_flag=True, help="Move on the sphere of radius |z0| (t is an angle in radians).")
@click.option("--calibrate", type=float, default=None,
              help="Choose the steps per axis so the real distance from the reference is evenly spaced up to "
                   "this value (replaces --range in the montage; steps searched within |t| <= 2 sqrt(n), or pi "
                   "with --sphere; targets not reached are reported and marked in red).")
@click.option("--curves", type=click.Path(dir_okay=False), default=None,
              help="Also plot the real distance vs t for these axes, with the prediction lambda t^2/2 (PNG).")
@click.option("--curves-range", type=float, default=None, help="t range of the curves (default: --range).")
@click.option("--curve-points", type=int, default=41, show_default=True, help="Amounts evaluated per curve.")
@click.option("--action-seeds", "action_seeds", type=SeedList(), default=None,
              help="Also write an action montage: one axis applied with the same steps (the explore row's, "
                   "calibrated ones included, i.e. calibrated at the explore reference) to these seeds' codes, "
                   "one row each, each cell captioned with its real distance when a distance is loaded.")
@click.option("--action-axis", type=int, default=None, help="Axis of the action montage (default: first listed).")
@click.option("--action-out", type=click.Path(dir_okay=False), default=None,
              help="Action montage, PNG or JPEG (default: OUT_action with OUT's suffix).")
@click.option("--steps-out", type=click.Path(dir_okay=False), default=None,
              help="With --calibrate: CSV of steps and achieved distances (default: OUT_steps.csv).")
@click.option("--scale", type=int, default=1, show_default=True, help="Upscale each image by this integer factor.")
@click.option("--palette", is_flag=True, help="Write 256-colour PNG montages (about 3x smaller files, e.g. for docs).")
@click.option("--out", "-o", type=click.Path(dir_okay=False), default="grid.png", show_default=True,
              help="Explore montage, PNG or JPEG by the suffix.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def explore(model_spec, device, dtype, distance_spec, axes_file, z_file, seed, indices, steps, amount_range, sphere,
            calibrate, curves, curves_range, curve_points, action_seeds, action_axis, action_out, steps_out, scale,
            palette, out, quiet):
    """Montages along metric axes: one row per axis, the reference image in the middle.

    The model and distance default to those the axes were computed with.

    \b
    Examples:
      ganmetric explore --model dcgan-face --axes axes.npz --axes-list 0,1,2,4,8 --steps 7 --range 3 --out grid.png
      ganmetric explore --axes axes.npz --calibrate 0.05 --curves curves.png --action-seeds 0,1,2,3 --out cal.png
    """
    out, curves, action_out, steps_out = _explore_outputs(out, curves, action_out, steps_out, action_seeds, calibrate)
    ax = gax.load_axes(axes_file)
    G = _model_for(ax, model_spec, device, dtype)
    z0, where = _reference(G, ax, z_file, seed)
    D = _dist_for(ax, distance_spec, device, dtype) if calibrate is not None or curves else None
    codes = np.concatenate([G.sample(1, seed=s).detach().cpu().double().numpy() for s in action_seeds]) \
        if action_seeds else None
    found = gax.explore(G, z0, ax, indices=indices, D=D, steps=steps, amount_range=amount_range, sphere=sphere,
                        calibrate=calibrate, curves=curves is not None, curves_range=curves_range,
                        curve_points=curve_points, action_codes=codes, action_axis=action_axis,
                        action_labels=[f"seed {s}" for s in action_seeds] if action_seeds else None,
                        reference_label=where,
                        scale=scale, progress=not quiet)
    with written_together():  # all the files, or none of them
        found.montage.save(out, palette=palette)
        if found.calibrated is not None:
            atomic_write_bytes(steps_out, found.calibrated.to_csv(eigvals=ax.eigvals).encode())
        if curves is not None:
            gax.plot_distance_curves(curves, found.curve_ts, found.curves, ax.eigvals[indices], indices,
                                     sphere=sphere, radius=float(np.linalg.norm(z0)), distance_name=D.name,
                                     title=f"{G.name}: real distance along metric axes from {where} vs the metric's "
                                           f"prediction")
        if found.action is not None:
            found.action.save(action_out, palette=palette)
    click.echo(describe_model(G) + (f"; distance {describe_distance(D)}" if D is not None else ""))
    click.echo(f"reference {where}, |z0|={np.linalg.norm(z0):.3f}, axes {indices}, "
               f"{'sphere (radians)' if sphere else 'linear'}")
    click.echo(f"wrote {out} ({found.montage.image.size[0]}x{found.montage.image.size[1]})")
    if found.calibrated is not None:
        _print_calibration(found.calibrated, indices, D.name, sphere)
        click.echo(f"wrote {steps_out}")
    if curves is not None:
        click.echo(f"wrote {curves}")
    if found.action is not None:
        click.echo(f"wrote {action_out} (axis {found.action_axis} on seeds {action_seeds})")

"""``ganmetric view``: a local web page with one slider per metric axis."""
from __future__ import annotations

from pathlib import Path

import click

import ganmetric
from ganmetric import axes as gax
from ganmetric import viewer as gview
from ganmetric.distances import DistanceSpec, describe_distance, load_recorded_distance
from ganmetric.generators import describe_model, load_recorded_generator

from .common import DISTANCE_FLAGS_IN_WORDS, distance_options, model_options
from .flags import bad_value


def _axes(axes_file, result_file, top):
    """The axes to show: an axis file, or the top-K eigenvectors of a result file; and what to call the file."""
    if (axes_file is None) == (result_file is None):
        raise click.UsageError("give the axes to show: --axes AXES.npz or --hessian RESULT.npz (one of them)")
    if axes_file is not None:
        if top is not None:
            raise bad_value("top", "--top applies to --hessian (an axis file holds its axes)")
        return gax.load_axes(axes_file), f"the axis file {Path(axes_file).name}"
    res = ganmetric.load_result(result_file)
    top = min(10, int(res.eigvals.shape[0])) if top is None else top
    return gax.export_axes(res, top=top), f"the result {Path(result_file).name}"


@click.command()
@model_options
@distance_options
@click.option("--axes", "axes_file", type=click.Path(dir_okay=False), default=None,
              help="Axis file (from `ganmetric axes export`).")
@click.option("--hessian", "result_file", type=click.Path(dir_okay=False), default=None,
              help="Or a result file (point or average metric): its top --top eigenvectors are the axes.")
@click.option("--top", type=int, default=None, help="With --hessian: how many axes (default 10, or all if fewer).")
@click.option("--d-max", type=float, default=gview.DEFAULT_D_MAX, show_default=True,
              help="The distance each slider's end moves the image by, as the metric predicts (t_max = "
                   "sqrt(2 d_max / lambda)); adjustable on the page.")
@click.option("--no-distance", is_flag=True,
              help="Do not load the distance (e.g. LPIPS weights unavailable offline): no distance shown.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but this machine (e.g. 0.0.0.0) lets others drive the model. "
                   "Requests must name it (or localhost, 127.0.0.1, [::1]) with the port in their Host header, "
                   "come from the page itself, and POST JSON: others get 400, 403 or 415.")
@click.option("--port", type=int, default=8765, show_default=True, help="Port to listen on (0: any free port).")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in the default browser.")
def view(model_spec, device, dtype, distance_spec, axes_file, result_file, top, d_max, no_distance, host, port,
         open_browser):
    """Serve a local web page with one slider per metric axis, until Ctrl-C.

    Slider ranges are calibrated by the metric: each slider's end moves the image by about
    d_max. The model and distance default to those the file was computed with. Needs the
    viewer extra: pip install "ganmetric[viewer]".

    \b
    Examples:
      ganmetric view --axes axes.npz
      ganmetric view --hessian face.npz --top 8 --port 8800 --open
    """
    gview.require_extra()
    if no_distance and distance_spec != DistanceSpec():
        raise bad_value("no_distance", f"--no-distance leaves the distance out: drop {DISTANCE_FLAGS_IN_WORDS}, or "
                                       "--no-distance")
    ax, what = _axes(axes_file, result_file, top)
    sock = gview.bind_socket(host, port)
    try:
        G = load_recorded_generator(ax.meta, model_spec, device=device, dtype=dtype, what=what)
        D = None if no_distance else load_recorded_distance(ax.meta, distance_spec, device=device, dtype=dtype,
                                                            what=what)
        app = gview.create_app(gview.Viewer(G, ax, D, d_max=d_max), host=host, port=sock.getsockname()[1])
    except BaseException:
        sock.close()
        raise
    url = gview.url_of(sock, host)
    click.echo(describe_model(G) + f"; distance {describe_distance(D) if D is not None else 'none'}")
    click.echo(f"{ax.top} axes from {what}, eigenvalues {ax.eigvals[0]:.4g} to {ax.eigvals[-1]:.4g}")
    warning = gview.host_warning(host)
    if warning:
        click.echo(warning, err=True)
    click.echo(f"serving {url}  (Ctrl-C to stop)")
    gview.serve(app, sock, open_browser=open_browser, url=url)

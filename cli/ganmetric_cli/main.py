"""Entry point: ``ganmetric COMMAND ...``."""
from __future__ import annotations

import click

from .errors import OneLineErrors
from .flags import install_flag_names


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ganmetric")
def main():
    """Riemannian geometry of generative models' latent spaces.

    The metric H(z0) is the Hessian of d(G(z0), G(z)) at z = z0 for a generator G and an
    image distance d (LPIPS or MSE). Its eigenvectors are the latent directions ordered by
    how much they change the image; its eigenvalues say how much.

    Start with `ganmetric hessian --help`, and `ganmetric models list`.
    """


def _register():
    from . import hessian, invert, models
    main.add_command(hessian.hessian)
    main.add_command(models.models)
    from . import analysis, compare
    for command in analysis.COMMANDS:
        main.add_command(command)
    main.add_command(compare.compare)
    from . import axes
    main.add_command(axes.axes)
    main.add_command(axes.explore)
    main.add_command(invert.invert)
    from . import view
    main.add_command(view.view)
    from . import optimize
    main.add_command(optimize.optimize)
    from . import compress, layers
    main.add_command(layers.layers_command)
    main.add_command(compress.compress)
    from . import path
    main.add_command(path.path)
    install_flag_names(main)


_register()

if __name__ == "__main__":
    main()

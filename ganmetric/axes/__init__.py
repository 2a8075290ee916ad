"""Metric eigenvectors as latent axes: files, edits, montages, calibrated steps, curves, comparisons.

The public surface::

    axes = export_axes("face.npz", top=10, out="axes.npz")   # or load_axes("axes.npz")
    z2 = apply_axis(z, axes, 0, 2.0)                         # z + 2 u_0
    z3 = apply_axis(z, axes, 0, 0.3, sphere=True)            # rotate toward u_0 by 0.3 rad
    cal = calibrate_steps(G, D, z, axes, indices=[0, 1], max_distance=0.05, n_targets=3)
    explore_montage(G, z, axes, indices=[0, 1], calibrated=cal).save("grid.png")
"""
from .apply import apply_axis, walk
from .calibrate import CalibratedSteps, calibrate_steps, distance_curves, predicted_distance
from .compare import (Comparison, Directions, compare_directions, first_layer_gram, ganspace_directions,
                      principal_angles, sefa_directions)
from .curves import curves_size, plot_distance_curves
from .files import FORMAT, Axes, check_axes_for, export_axes, load_axes, save_axes
from .montage import (Montage, action_montage, explore_montage, grid_size, render_codes, render_grid, save_image,
                      save_png)

__all__ = ["Axes", "FORMAT", "export_axes", "load_axes", "save_axes", "check_axes_for", "apply_axis", "walk",
           "CalibratedSteps", "calibrate_steps", "distance_curves", "predicted_distance", "plot_distance_curves",
           "curves_size", "Montage", "explore_montage", "action_montage", "grid_size", "render_grid", "save_png",
           "save_image", "render_codes",
           "Directions", "Comparison", "sefa_directions", "ganspace_directions", "first_layer_gram",
           "compare_directions", "principal_angles"]

"""Metric eigenvectors as latent axes: files, edits, montages, calibrated steps, curves, comparisons.

The public surface::

    axes = export_axes("face.npz", top=10, out="axes.npz")   # or load_axes("axes.npz")
    z2 = apply_axis(z, axes, 0, 2.0)                         # z + 2 u_0
    z3 = apply_axis(z, axes, 0, 0.3, sphere=True)            # rotate toward u_0 by 0.3 rad
    cal = calibrate_steps(G, D, z, axes, indices=[0, 1], max_distance=0.05, n_targets=3)
    explore_montage(G, z, axes, indices=[0, 1], calibrated=cal).save("grid.png")
    found = explore(G, z, axes, indices=[0, 1], D=D, calibrate=0.05, curves=True)  # all of it at once
    compare_directions(load_result("face.npz"), [sefa_directions(G, k=10), load_directions("b.npy", latent_dim=100)])
    compare_directions(load_result("face.npz"), discovered_directions(G, "ganspace,sefa", n_directions=10))
"""
from .apply import apply_axis, walk
from .calibrate import CalibratedSteps, calibrate_steps, search_bound
from .compare import (DISCOVERY_METHODS, Comparison, compare_directions, discovered_directions,
                      discovery_methods, principal_angles)
from .curves import distance_curves, plot_distance_curves, predicted_distance
from .directions import Directions, load_directions
from .explore import Exploration, explore
from .files import Axes, check_axes_for, export_axes, load_axes, reference_code, save_axes
from .ganspace import ganspace_directions
from .montage import Montage, action_montage, explore_montage, render_images
from .outputs import check_output
from .sefa import sefa_directions

__all__ = ["Axes", "export_axes", "load_axes", "save_axes", "check_axes_for", "reference_code", "apply_axis", "walk",
           "CalibratedSteps", "calibrate_steps", "search_bound", "distance_curves", "predicted_distance",
           "plot_distance_curves",
           "Montage", "explore_montage", "action_montage", "render_images", "Exploration", "explore",
           "check_output", "Directions", "load_directions", "sefa_directions", "ganspace_directions",
           "Comparison", "compare_directions", "principal_angles", "DISCOVERY_METHODS", "discovery_methods",
           "discovered_directions"]

"""Paths between latent codes: discrete geodesics under a distance, straight lines, SLERP, and path lengths.

    path = ganmetric.geodesic(G, D, z_a, z_b, points=16)    # least energy: equal, small steps
    path.codes, path.length, path.energy, path.steps, path.converged
    ganmetric.path_length(G, D, ganmetric.linear_path(z_a, z_b, 16)).length

For a path ``z_0 .. z_T`` and a distance d: step ``s_i = sqrt(d(G(z_i), G(z_{i+1})))``,
length ``L = sum_i s_i``, energy ``E = T sum_i s_i^2`` (``L^2 <= E``, equal for equal steps),
evenness ``max_i s_i / mean_i s_i``.
"""
from .compare import PATH_METHODS, PathPlan, compare_paths, path_methods, prepare_paths, run_paths
from .geodesic import OPTIMIZERS, geodesic
from .interpolation import INTERPOLATIONS, linear_path, slerp_path
from .measure import path_length
from .outputs import OUTPUT_PATTERNS, check_outputs, output_files, path_summary, report_lines, write_outputs
from .path import LatentPath

__all__ = ["geodesic", "path_length", "linear_path", "slerp_path", "LatentPath", "compare_paths", "prepare_paths",
           "run_paths", "PathPlan", "path_methods", "PATH_METHODS", "OPTIMIZERS", "INTERPOLATIONS", "check_outputs",
           "path_summary", "report_lines", "write_outputs", "output_files", "OUTPUT_PATTERNS"]

"""Black-box optimisation in latent space, shaped by the metric: random search, CMA-ES, Hessian-aware CMA-ES.

    res = ganmetric.optimize(G, "unit:torchvision:alexnet:features.10:3", method="hess-cma", basis="avg.npz",
                             top=50, budget=3000, seed=0, objective_weights="random")
    res.z, res.image, res.score, res.trace      # best code, its image, its score, per-generation trace

    cmp = ganmetric.blackbox.compare(G, "my_scores:score", ["random", "cma", "hess-cma"], seeds=5, basis="avg.npz")
    ganmetric.blackbox.write_outputs(cmp, "evolve")   # codes, images, scores.csv, curves.png, summary.json, ...

The evolution strategy is pycma's (:class:`cma.CMAEvolutionStrategy`, ask/tell).
"""
from .methods import METHODS
from .objectives import OBJECTIVES, Objective, ObjectiveError, check_scores, load_objective
from .outputs import (OUTPUT_PATTERNS, OUTPUTS, check_folder, comparison_summary, curves_png, montage_png, run_files,
                      write_outputs)
from .plan import Arm, Plan, default_popsize, prepare_optimization, prior_scale
from .run import Comparison, OptimizationResult, compare, optimize, run_comparison, run_one
from .units import MODELS as UNIT_MODELS

__all__ = ["optimize", "compare", "prepare_optimization", "run_comparison", "run_one", "write_outputs",
           "OptimizationResult", "Comparison", "Arm", "Plan", "Objective", "ObjectiveError", "load_objective",
           "check_scores", "METHODS", "OBJECTIVES", "UNIT_MODELS", "OUTPUTS", "run_files", "check_folder",
           "comparison_summary", "OUTPUT_PATTERNS",
           "curves_png", "montage_png", "default_popsize", "prior_scale"]

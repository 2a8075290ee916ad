"""Metric operators, dense builders, Lanczos and ``metric_tensor``."""
from .dense import bp_hessian, jacobian_gram, operator_dense
from .lanczos import LanczosResult, block_lanczos, lanczos
from .metric import METHODS, Method, check_options, metric_tensor, probe_determinism, resolve_method, unused_options
from .operators import (DoubleBackwardOperator, FiniteDifferenceOperator, FwdOverRevOperator, GaussNewtonOperator,
                        MetricOperator, Objective)

__all__ = ["METHODS", "Method", "metric_tensor", "check_options", "probe_determinism", "resolve_method",
           "unused_options", "lanczos", "block_lanczos", "LanczosResult", "jacobian_gram", "bp_hessian",
           "operator_dense", "MetricOperator", "Objective", "GaussNewtonOperator", "FwdOverRevOperator",
           "DoubleBackwardOperator", "FiniteDifferenceOperator"]

"""Metric operators, dense builders, Lanczos and ``metric_tensor``."""
from .dense import bp_hessian, jacobian_gram, operator_dense
from .jacobian import JacobianOperator
from .lanczos import LanczosResult, block_lanczos, lanczos
from .metric import METHODS, Method, check_options, metric_tensor, resolve_method, unused_options
from .objective import Objective
from .operators import (DoubleBackwardOperator, FiniteDifferenceOperator, FwdOverRevOperator, GaussNewtonOperator,
                        JacobianGram, MetricOperator)
from .probe import DeterminismProbe, probe_determinism

__all__ = ["METHODS", "Method", "metric_tensor", "check_options", "probe_determinism", "DeterminismProbe",
           "resolve_method", "unused_options", "lanczos", "block_lanczos", "LanczosResult", "jacobian_gram",
           "JacobianGram", "bp_hessian", "operator_dense", "MetricOperator", "Objective", "JacobianOperator",
           "GaussNewtonOperator", "FwdOverRevOperator", "DoubleBackwardOperator", "FiniteDifferenceOperator"]

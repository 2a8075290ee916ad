"""``metric_tensor``: the pull-back metric H(z0) of a distance through a generator, by named method.

Every method is one entry of :data:`METHODS`: what it computes, whether it needs the
distance's squared-feature form, its kind (the full H, the top k, or either), the solver
options it reads, and ``run``, which builds its operator or dense builder and solves.
Adding a method is adding one entry. :func:`resolve_method` is the one place ``auto`` is
decided; :func:`metric_tensor` validates, probes, runs the entry and wraps the result.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Callable

import torch

from .. import checks
from ..chunking import COSTS, ChunkChoice, auto_chunk
from ..distances.spec import distance_meta
from ..errors import InputError
from ..generators.spec import model_meta
from ..linalg import eigh_descending
from ..placement import check_codes_device, check_same_dtype, module_device
from ..precision import float32_precision
from ..result import MetricResult
from .dense import bp_hessian, jacobian_gram, operator_dense
from .lanczos import block_lanczos, lanczos
from .objective import Objective
from .operators import (DoubleBackwardOperator, FiniteDifferenceOperator, FwdOverRevOperator,
                        GaussNewtonOperator, MetricOperator)
from .probe import DeterminismProbe

DEFAULT_K = 20
#: forward-iter's finite-difference step, relative to |z0| (the paper's value).
DEFAULT_EPS = 1e-3
#: ``auto`` uses the full Jacobian Gram up to this latent size (measured: one batched pass
#: beats ~3k sequential Lanczos products there), gn-lanczos above it when k is small.
AUTO_FULL_MAX_DIM = 128
#: the solver options every Lanczos run reads (names of :func:`metric_tensor` arguments; the
#: start vector's seed is ``seed`` there and ``lanczos_seed`` in :attr:`MetricResult.options`).
LANCZOS_OPTIONS = frozenset({"max_iter", "tol", "seed"})


@dataclass(frozen=True)
class Settings:
    """The validated numerical options a method's ``run`` reads (see :func:`metric_tensor`)."""

    k: int | None
    chunk: int | str
    eps: float
    max_iter: int | None
    tol: float | None
    seed: int
    progress: bool


@dataclass(frozen=True)
class Solution:
    """What a method's ``run`` returns: descending eigenpairs, H when dense, solver diagnostics."""

    eigvals: torch.Tensor
    eigvecs: torch.Tensor
    H: torch.Tensor | None = None
    residuals: torch.Tensor | None = None
    converged: bool = True
    n_products: int = 0
    chunk: int | None = None  # tangents per pass at the end (smaller than asked after an out-of-memory retry)


@dataclass(frozen=True)
class Method:
    """One entry of :data:`METHODS`.

    Attributes:
        help: what it computes, in one line (the CLI's ``--method`` help reads it).
        needs_features: it needs a distance with the squared-feature form.
        kind: ``"full"`` (the whole H), ``"top-k"`` (the k largest pairs, by Lanczos) or
            ``"either"`` (the whole H without k, the top k by Lanczos with k).
        run: ``run(obj, settings) -> Solution``; None for ``auto``, which
            :func:`resolve_method` replaces by a real method before anything runs. A method
            that ``checks_primal`` is also given ``probe=``, the pending
            :class:`~ganmetric.hessian.probe.DeterminismProbe` (None with ``probe=False``).
        options: the options it reads besides k, among ``chunk`` and ``eps``
            (:data:`LANCZOS_OPTIONS` come with every Lanczos run).
        memory: what one tangent of its batched passes costs, a key of
            :data:`ganmetric.chunking.COSTS` (``chunk="auto"`` reads it).
        checks_primal: its first pass evaluates the distance's unscaled features at z0 alone
            and its ``run`` hands that primal to the determinism probe (``probe.check(primal)``)
            before solving, so that the probe needs no evaluation of z0 alone of its own
            (otherwise the probe compares :attr:`Objective.x0` before the run).
    """

    help: str
    needs_features: bool
    kind: str
    run: Callable[..., Solution] | None
    options: frozenset = frozenset()
    memory: str = "fwd-over-rev"
    checks_primal: bool = False

    def iterative(self, k: int | None) -> bool:
        """Whether it runs Lanczos for this k."""
        return self.kind == "top-k" or (self.kind == "either" and k is not None)

    def uses(self, k: int | None) -> frozenset:
        """Names of the :func:`metric_tensor` options it reads for this k."""
        return self.options | (LANCZOS_OPTIONS if self.iterative(k) else frozenset())


def _dense(H: torch.Tensor, k: int | None, chunk: int | None = None) -> Solution:
    vals, vecs = eigh_descending(H, what="the metric H at this code")
    if k is not None:
        vals, vecs = vals[:k], vecs[:, :k]
    return Solution(vals, vecs, H=H, n_products=H.shape[0], chunk=chunk)


def _run_jacobian(obj: Objective, s: Settings, *, probe: DeterminismProbe | None = None) -> Solution:
    gram = jacobian_gram(obj, chunk=s.chunk, progress=s.progress)
    if probe is not None:
        probe.check(gram.primal)  # z0 alone, from the first pass
    return _dense(gram.H, s.k, gram.chunk)


def _run_gn_lanczos(obj: Objective, s: Settings, *, probe: DeterminismProbe | None = None) -> Solution:
    op = GaussNewtonOperator(obj, s.chunk)
    primal = op.linearize()  # the forward pass every J^T product reuses: z0 alone
    if probe is not None:
        probe.check(primal)  # before any product
    return _block_solve(op, s)


def _block_solve(op: MetricOperator, s: Settings) -> Solution:
    """Block Lanczos: the operator's products batch well (a block of them per vmap pass)."""
    lz = block_lanczos(op.matmat, op.dim, s.k, device=op.device, dtype=op.dtype, max_iter=s.max_iter, tol=s.tol,
                       seed=s.seed, progress=s.progress)
    return Solution(lz.eigvals, lz.eigvecs, residuals=lz.residuals, converged=lz.converged,
                    n_products=op.n_products, chunk=op.chunk)


def _single_solve(op: MetricOperator, s: Settings) -> Solution:
    """Single-vector Lanczos, as the paper's baselines run."""
    lz = lanczos(op.matvec, op.dim, s.k, matmat=op.matmat, device=op.device, dtype=op.dtype, max_iter=s.max_iter,
                 tol=s.tol, seed=s.seed, progress=s.progress)
    return Solution(lz.eigvals, lz.eigvecs, residuals=lz.residuals, converged=lz.converged,
                    n_products=op.n_products, chunk=op.chunk)


def _run_fwd_over_rev(obj: Objective, s: Settings) -> Solution:
    op = FwdOverRevOperator(obj, s.chunk)
    if s.k is None:
        return _dense(operator_dense(op, progress=s.progress), None, op.chunk)
    return _block_solve(op, s)


METHODS: dict[str, Method] = {
    "auto": Method("picks by cost: jacobian, gn-lanczos or fwd-over-rev", False, "either", None,
                   frozenset({"chunk"})),
    "jacobian": Method("full H = 2 J^T J from batched forward-mode products", True, "full", _run_jacobian,
                       frozenset({"chunk"}), "jacobian", checks_primal=True),
    "gn-lanczos": Method("top k by Lanczos on H v = 2 J^T (J v) (jvp + vjp)", True, "top-k", _run_gn_lanczos,
                         frozenset({"chunk"}), "gauss-newton", checks_primal=True),
    "fwd-over-rev": Method("exact forward-over-reverse HVPs, any distance: full H, or top k by Lanczos", False,
                           "either", _run_fwd_over_rev, frozenset({"chunk"}), "fwd-over-rev"),
    "bp": Method("paper: gradient with create_graph, one backward pass per row (full H)", False, "full",
                 lambda obj, s: _dense(bp_hessian(obj, progress=s.progress), s.k)),
    "backward-iter": Method("paper: Lanczos on double-backward HVPs (top k)", False, "top-k",
                            lambda obj, s: _single_solve(DoubleBackwardOperator(obj), s)),
    "forward-iter": Method("paper: Lanczos on finite-difference HVPs (top k, approximate)", False, "top-k",
                           lambda obj, s: _single_solve(FiniteDifferenceOperator(obj, s.eps, s.chunk), s),
                           frozenset({"chunk", "eps"}), "finite-difference"),
}
"""Name -> :class:`Method`; the CLI's ``--method`` choices and help read this registry."""


def resolve_method(method: str, has_features: bool, n: int, k: int | None) -> str:
    """The method ``auto`` stands for, given the distance, latent size and k (others unchanged).

    Args:
        method: a key of :data:`METHODS`.
        has_features: whether the distance has the squared-feature form.
        n: the latent size.
        k: the number of eigenpairs asked for (None: the full H).

    Returns:
        The name of a real method: ``method`` itself unless it is ``auto``.
    """
    if method != "auto":
        return method
    if not has_features:
        return "fwd-over-rev"
    if k is None or n <= AUTO_FULL_MAX_DIM or k > n // 4:
        return "jacobian"
    return "gn-lanczos"


def unused_options(method: str, has_features: bool, n: int, k: int | None, given) -> list[str]:
    """The names in ``given`` that ``method`` (``auto`` resolved) would not read.

    :func:`metric_tensor` validates such options and records them as None; a front end that
    refuses an option given for nothing (the CLI does) asks here before computing.

    Args:
        method: a key of :data:`METHODS`.
        has_features: whether the distance has the squared-feature form.
        n: the latent size.
        k: as for :func:`metric_tensor`.
        given: names of :func:`metric_tensor` options the caller set, among ``chunk``, ``eps``,
            ``max_iter``, ``tol``, ``seed``.

    Returns:
        The names of ``given`` the method ignores, in the order given.

    Raises:
        InputError: an unknown method.
    """
    checks.one_of("method", method, METHODS)
    used = METHODS[resolve_method(method, has_features, n, k)].uses(k)
    return [name for name in given if name not in used]


def _checked_chunk(chunk) -> int | str:
    """``"auto"`` (also for None), or a positive integer (used as given, as before ``auto`` existed).

    Raises:
        InputError: anything else, naming ``chunk``.
    """
    if chunk is None or (isinstance(chunk, str) and chunk == "auto"):
        return "auto"
    if isinstance(chunk, str):
        raise InputError(f"chunk must be auto or an integer >= 1, got {chunk}", argument="chunk")
    return checks.positive_int("chunk", chunk)


def _settings(n: int, name: str, k, chunk, eps, max_iter, tol, seed, progress) -> Settings:
    """Validate every numerical option but k (used or not: a bad value is an error either way)."""
    if METHODS[name].kind == "top-k" and k is None:
        k = min(DEFAULT_K, n)
    chunk = _checked_chunk(chunk)
    eps = DEFAULT_EPS if eps is None else checks.positive_float("eps", eps)
    if max_iter is not None:
        checks.positive_int("max_iter", max_iter)
        if METHODS[name].iterative(k) and max_iter < k:
            raise InputError(f"max_iter must be at least k ({k}) for a top-{k} solve, got {max_iter}",
                             argument="max_iter")
    tol = None if tol is None else checks.positive_float("tol", tol)
    return Settings(k=k, chunk=chunk, eps=eps, max_iter=max_iter, tol=tol, seed=checks.seed("seed", seed),
                    progress=bool(progress))


def check_options(G, D, method: str = "auto", k: int | None = None, *, chunk: int | str | None = "auto",
                  eps: float | None = None, max_iter: int | None = None, tol: float | None = None,
                  seed: int = 0) -> str:
    """Validate :func:`metric_tensor`'s options without computing anything; returns the method ``auto`` stands for.

    A caller that writes files before the first metric (``batch_metric``) checks here first.

    Args:
        G: the generator.
        D: the distance.
        method: a key of :data:`METHODS`.
        k: the number of eigenpairs (None: the method's default).
        chunk: tangents per batched pass, or ``"auto"``.
        eps: forward-iter's finite-difference step.
        max_iter: Lanczos steps at most.
        tol: Lanczos' relative residual tolerance.
        seed: the Lanczos start vector's seed.

    Returns:
        The method that would run (``auto`` resolved).

    Raises:
        InputError: as :func:`metric_tensor` would, naming the argument.
    """
    checks.one_of("method", method, METHODS)
    n = int(G.latent_dim)
    if k is not None:
        checks.positive_int("k", k, maximum=n)
    name = resolve_method(method, D.has_features, n, k)
    if METHODS[name].needs_features and not D.has_features:
        usable = ", ".join(m for m, spec in METHODS.items() if spec.run is not None and not spec.needs_features)
        raise InputError(f"method {name} needs a distance with a squared-feature form; {D.name} has none: "
                         f"use one of {usable}", argument="method")
    _settings(n, name, k, chunk, eps, max_iter, tol, seed, False)
    return name


def _resolved_chunk(obj: Objective, method: Method, s: Settings) -> tuple[Settings, ChunkChoice | None]:
    """Settings with ``chunk="auto"`` replaced by the measured choice (methods that batch), and that choice."""
    if s.chunk != "auto":
        return s, None
    if "chunk" not in method.uses(s.k):
        return replace(s, chunk=obj.z0.numel()), None  # bp, backward-iter: one vector a pass whatever chunk says
    measured = obj.forward_memory(features=COSTS[method.memory].features)
    choice = auto_chunk(measured, method.memory, obj.z0.numel(), obj.z0.device)
    return replace(s, chunk=choice.chunk), choice


def _recorded_options(method: Method, s: Settings, sol: Solution) -> dict:
    """The options the method read; the others are None, so a result never claims a setting it ignored.

    ``chunk`` is the number of tangents per pass actually used (after ``auto`` and any
    out-of-memory retry).
    """
    used = method.uses(s.k)
    read = {"chunk": s.chunk if sol.chunk is None else sol.chunk, "eps": s.eps, "max_iter": s.max_iter,
            "tol": s.tol, "seed": s.seed}
    out = {key: (value if key in used else None) for key, value in read.items()}
    out["lanczos_seed"] = out.pop("seed")  # "seed" in a result file is the seed the point was drawn with
    return out


def metric_tensor(G, D, z, method: str = "auto", k: int | None = None, *, chunk: int | str | None = "auto",
                  eps: float | None = None, max_iter: int | None = None, tol: float | None = None, seed: int = 0,
                  probe: bool = True, progress: bool = False, allow_tf32: bool = False) -> MetricResult:
    """The metric tensor H(z0) (Hessian of d(G(z0), G(z)) at z = z0), full or top k.

    Options a method does not read (``eps`` except for forward-iter; ``max_iter``, ``tol``
    and ``seed`` for dense solves; ``chunk`` for bp and backward-iter) are still validated,
    and recorded as None in :attr:`MetricResult.options`.

    Args:
        G: a :class:`~ganmetric.generators.Generator` (or module with ``latent_dim``).
        D: a :class:`~ganmetric.distances.Distance`.
        z: the base point, shape (n,) or (1, n): float32, float64 or integers (float16 and
            bfloat16 codes are refused, not cast; G and D run in float32 or float64 only).
        method: a key of :data:`METHODS` (``auto``: see :func:`resolve_method`).
        k: number of top eigenpairs, 1 <= k <= n (None: all for full methods, 20 for top-k ones).
        chunk: tangents (codes) per batched pass: an integer >= 1, or ``"auto"`` (the default;
            None too): as many as fit half the device's free memory, from one measured forward
            of one code (:mod:`ganmetric.chunking`). A pass that runs out of memory is retried
            with half as many, down to 1, with an :class:`~ganmetric.errors.OutOfMemoryWarning`.
            The chunk used is recorded in ``options["chunk"]`` (and ``meta["chunk_auto"]``, present
            when ``auto`` chose, holds its estimate: MiB per tangent and fixed).
        eps: forward-iter finite-difference step relative to |z0|, finite and > 0
            (default :data:`DEFAULT_EPS`).
        max_iter: Lanczos products at most, >= k.
        tol: Lanczos relative residual tolerance, finite and > 0.
        seed: seed of the Lanczos start vector (an integer).
        probe: run the determinism probe first.
        progress: show progress bars.
        allow_tf32: let CUDA convolutions and matrix products run in TF32 (faster on Ampere and
            newer GPUs, about 1e-3 relative accuracy: a Lanczos ``tol`` below that is not
            reachable). Off by default: every product is exact float32 (see
            :mod:`ganmetric.precision`). Recorded in ``options["allow_tf32"]``, and the settings
            in effect in ``meta["float32_precision"]``.

    Returns:
        MetricResult.

    Raises:
        InputError: bad z, method or option (the message names the argument), a distance of
            another dtype or on another device, codes on another accelerator than G, or a
            method needing features with a distance without them.
        NotDeterministicError: the probe found a non-deterministic map.
    """
    checks.one_of("method", method, METHODS)
    n = int(G.latent_dim)
    dtype = check_same_dtype(G, D)  # and the device: one line naming both, before any work
    check_codes_device(z, G)
    z = checks.latent_codes("z", z, n)
    if z.shape[0] != 1:
        raise InputError(f"metric_tensor takes one latent point, got {z.shape[0]}; use ganmetric.batch_metric for many",
                         argument="z")
    z0 = z[0].to(device=module_device(G), dtype=dtype)
    name = check_options(G, D, method, k, chunk=chunk, eps=eps, max_iter=max_iter, tol=tol, seed=seed)
    settings = _settings(n, name, k, chunk, eps, max_iter, tol, seed, progress)
    allow_tf32 = checks.flag("allow_tf32", allow_tf32)
    t0 = time.perf_counter()
    with float32_precision(allow_tf32) as precision:
        obj = Objective(G, D, z0)
        pending = DeterminismProbe(obj) if probe else None  # z0 in a batch of two
        if pending is not None and not METHODS[name].checks_primal:
            pending.check()  # against x0, which these methods evaluate anyway
        settings, choice = _resolved_chunk(obj, METHODS[name], settings)
        run = METHODS[name].run
        sol = run(obj, settings, probe=pending) if METHODS[name].checks_primal else run(obj, settings)
        if pending is not None and not pending.done:  # a run that handed the probe nothing
            pending.check()
    auto = {} if choice is None else {"chunk_auto": choice.meta()}
    options = {**_recorded_options(METHODS[name], settings, sol), "allow_tf32": allow_tf32}
    return MetricResult(eigvals=sol.eigvals, eigvecs=sol.eigvecs, z=z0.detach(), H=sol.H, residuals=sol.residuals,
                        kind="point", method=name, seconds=time.perf_counter() - t0, converged=sol.converged,
                        n_products=sol.n_products, options=options,
                        meta={**model_meta(G), **distance_meta(D), **auto, "float32_precision": precision})

"""ganmetric/checks.py: every validator accepts what it should, refuses the rest with an InputError
that names the argument (message and ``.argument``) and shows no Python repr of internals."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ganmetric import checks
from ganmetric.errors import InputError


def _refused(call, match, argument=None):
    with pytest.raises(InputError, match=match) as info:
        call()
    assert "np." not in str(info.value) and "tensor(" not in str(info.value)
    if argument is not None:
        assert info.value.argument == argument
    return info.value


def test_one_of_lists_every_choice_sorted():
    assert checks.one_of("method", "bp", ["jacobian", "bp"]) == "bp"
    _refused(lambda: checks.one_of("method", "nope", {"jacobian": 1, "bp": 2}),
             r"^method 'nope' is not one of \{bp, jacobian\}$", "method")
    # a numpy string is quoted like any other, not shown as np.str_('x')
    _refused(lambda: checks.one_of("model", np.str_("x"), ["a"]), r"model 'x' is not one of")
    # what the value is, when the argument's name alone does not say: the argument is still named
    _refused(lambda: checks.one_of("latent_space", "q", ["w", "z"], what="latent space of stylegan2-demo"),
             r"^latent space of stylegan2-demo 'q' is not one of \{w, z\}$", "latent_space")


@pytest.mark.parametrize("z, shape", [(torch.zeros(3), (1, 3)), (np.zeros((2, 3)), (2, 3)), ([[1, 2, 3]], (1, 3)),
                                      (torch.zeros(4, 3, dtype=torch.float64), (4, 3))])
def test_latent_codes_accepts_vectors_and_batches(z, shape):
    out = checks.latent_codes("z", z, 3)
    assert isinstance(out, torch.Tensor) and tuple(out.shape) == shape


@pytest.mark.parametrize("z, match", [
    (torch.zeros(4), r"z must have shape \(3,\) or \(N, 3\) for this latent space, got \(4,\)"),
    (torch.zeros(0, 3), r"got \(0, 3\)"), (torch.zeros(2, 3, 1), r"got \(2, 3, 1\)"),
    (torch.tensor([0.0, math.nan, 0.0]), "NaN or inf"), (torch.tensor([0.0, math.inf, 0.0]), "NaN or inf"),
    (torch.zeros(3, dtype=torch.bool), "must hold real numbers"), (np.array(["a", "b", "c"]), "numeric array"),
    ("abc", "numeric array")])
def test_latent_codes_refusals(z, match):
    _refused(lambda: checks.latent_codes("z", z, 3), match, "z")


def test_latent_codes_names_its_source():
    _refused(lambda: checks.latent_codes("z_file", torch.zeros(5), 3, shown="codes.npy"), "^codes.npy must have",
             "z_file")


def test_finite_float():
    assert checks.finite_float("amount", "2.5") == 2.5 and checks.finite_float("amount", np.float64(-1)) == -1.0
    _refused(lambda: checks.finite_float("amount", math.nan), "amount must be a finite number, got nan", "amount")
    _refused(lambda: checks.finite_float("amount", "x"), "amount must be a real number, got x", "amount")
    _refused(lambda: checks.finite_float("amount", None), "amount must be a real number, got NoneType", "amount")


@pytest.mark.parametrize("value", [1e-300, 0.5, np.float32(3.0), 7])
def test_positive_float_accepts(value):
    assert checks.positive_float("tol", value) == float(value)


@pytest.mark.parametrize("value, match", [(0, r"tol must be a finite number > 0, got 0$"), (-1.0, "got -1$"),
                                          (math.inf, "finite number, got inf"), (math.nan, "got nan"),
                                          (np.float64(-2.0), "got -2$"), ("big", "real number")])
def test_positive_float_refuses(value, match):
    _refused(lambda: checks.positive_float("tol", value), match, "tol")


@pytest.mark.parametrize("value, match", [(-1e-300, r"prior_weight must be a finite number >= 0, got -1e-300$"),
                                          (math.inf, "finite number, got inf"), ("x", "real number, got x")])
def test_non_negative_float(value, match):
    assert checks.non_negative_float("prior_weight", 0) == 0.0 and checks.non_negative_float("prior_weight", 2) == 2.0
    _refused(lambda: checks.non_negative_float("prior_weight", value), match, "prior_weight")


def test_integer_and_bounds():
    assert checks.integer("seed", -3) == -3 and checks.integer("seed", np.int64(5)) == 5
    assert type(checks.integer("seed", np.int32(5))) is int
    _refused(lambda: checks.integer("seed", 1.0), "seed must be an integer, got 1.0", "seed")
    _refused(lambda: checks.integer("seed", True), "seed must be an integer, got True", "seed")
    _refused(lambda: checks.integer("seed", torch.tensor(2)), "seed must be an integer, got Tensor", "seed")
    _refused(lambda: checks.integer("k", 0, minimum=1, maximum=4), "k must be at least 1 and at most 4, got 0", "k")
    _refused(lambda: checks.integer("k", 9, maximum=4), "k must be at most 4, got 9", "k")


def test_positive_int():
    assert checks.positive_int("chunk", 1) == 1 and checks.positive_int("k", np.int64(4), maximum=4) == 4
    _refused(lambda: checks.positive_int("chunk", 0), "chunk must be at least 1, got 0", "chunk")
    _refused(lambda: checks.positive_int("k", 5, maximum=4), "k must be at least 1 and at most 4, got 5", "k")
    _refused(lambda: checks.positive_int("max_iter", 2.5), "max_iter must be an integer, got 2.5", "max_iter")


def test_device():
    assert checks.device("cpu") == torch.device("cpu")
    _refused(lambda: checks.device("toaster"), "Invalid device toaster; expected e.g. cpu, cuda, cuda:1", "device")
    if not torch.cuda.is_available():
        err = _refused(lambda: checks.device("cuda"), "device cuda requested but CUDA is not available", "device")
        assert "--device" not in str(err)  # the library names the argument; the CLI its flag
    else:
        _refused(lambda: checks.device(f"cuda:{torch.cuda.device_count()}"), "CUDA device", "device")


def test_dtype():
    assert checks.dtype("float64") is torch.float64 and checks.dtype(torch.float32) is torch.float32
    _refused(lambda: checks.dtype("float16"), r"dtype 'float16' is not one of \{float32, float64\}", "dtype")
    _refused(lambda: checks.dtype(torch.int64), r"dtype 'int64' is not one of")


@pytest.mark.parametrize("value", [0, 7, 2**63 - 1, np.int64(3), np.uint64(2**63 - 1)])
def test_seed_accepts_the_range(value):
    assert checks.seed("seed", value) == int(value) and type(checks.seed("seed", value)) is int


@pytest.mark.parametrize("value", [-1, 2**63, 99999999999999999999, 1.0, True, "3", None])
def test_seed_refuses_in_one_line(value):
    """-1 would silently equal 2**64 - 1 in torch.Generator.manual_seed, 2**64 and above end in torch's error."""
    with pytest.raises(InputError, match=r"^seed must be an integer in \[0, 2\*\*63\), got ") as info:
        checks.seed("seed", value)
    assert info.value.argument == "seed"


@pytest.mark.parametrize("entry", ["sample", "metric_tensor", "ganspace", "normal_rows", "lpips random"])
def test_every_api_entry_taking_a_seed_checks_it(entry):
    import ganmetric
    from ganmetric.generators.base import normal_rows
    from helpers import LinearGenerator
    G = LinearGenerator(torch.eye(16, 4, dtype=torch.float64))
    calls = {"sample": lambda s: G.sample(1, seed=s),
             "metric_tensor": lambda s: ganmetric.metric_tensor(G, ganmetric.load_distance("mse"), torch.ones(4),
                                                                method="gn-lanczos", k=1, seed=s),
             "ganspace": lambda s: ganmetric.axes.ganspace_directions(G, k=1, n_samples=8, seed=s),
             "normal_rows": lambda s: normal_rows(1, 4, s),
             "lpips random": lambda s: ganmetric.load_distance("lpips-squeeze", lpips_backbone=f"random:{s}")}
    for bad in (-1, 2**63):
        with pytest.raises(InputError, match=r"(seed|SEED).* \[0, 2\*\*63\)"):
            calls[entry](bad)


def test_latent_codes_refuse_values_beyond_float32():
    """A code of 1e308 is finite in float64 but inf in a float32 generator (an all-black image)."""
    checks.latent_codes("z", np.full(3, 3e38), 3)
    with pytest.raises(InputError, match=r"^z: values beyond float32's range \(up to 1e\+308 in size\)"):
        checks.latent_codes("z", np.array([0.0, 1e308, 1.0]), 3)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_codes_are_refused_not_cast(dtype):
    with pytest.raises(InputError, match=f"^z has dtype {str(dtype)[6:]}: codes must be float32 or float64 "
                                         r"\(or integers\), never cast silently; convert them first, e.g. z.float\(\)"):
        checks.latent_codes("z", torch.zeros(3, dtype=dtype), 3)
    with pytest.raises(InputError, match="has dtype float16"):
        checks.latent_codes("z", np.zeros(3, np.float16), 3)


@pytest.mark.parametrize("convert", [lambda m: m.to(torch.bfloat16), lambda m: m.to("cpu", torch.float16),
                                     lambda m: m.to(dtype=torch.float16), lambda m: m.half(), lambda m: m.bfloat16()])
def test_generators_and_distances_name_the_supported_dtypes(convert):
    import ganmetric
    from helpers import TinyConvGenerator
    for module in (TinyConvGenerator(n=4, res=8), ganmetric.load_distance("mse")):
        with pytest.raises(InputError, match=r"^dtype '(b?float16)' is not one of \{float32, float64\}$"):
            convert(module)
    G = TinyConvGenerator(n=4, res=8).to(torch.float64)  # the supported ones still convert
    assert G.dtype == torch.float64 and G.to("cpu").dtype == torch.float64

"""StyleGAN (1), rosinality checkpoints: strict loading, the authors' map (resolution, truncation around
mean_style, fixed noise), latent spaces, bad input, and the reference fixtures made with the repository's
own code."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import ganmetric
from ganmetric.errors import InputError, WeightsError
from ganmetric.generators.base import normal_rows
from ganmetric.generators.stylegan1 import StyleGAN1Generator, estimate_mean_style, network_from_state
from helpers import assert_jacobian_matches_dense

ROOT = Path(__file__).resolve().parents[1]
ZOO = ROOT.parent / "shared" / "fixtures" / "zoo"
needs_zoo = pytest.mark.skipif(not (ZOO / "stylegan1_rosinality.model").is_file(),
                               reason="reference fixtures (../shared/fixtures/zoo) not here")
# a narrow copy of the published layout: 4 blocks (32 px), the last one fused, style_dim 8, 2 mapping layers
CHANNELS, FUSED, STYLE_DIM, N_MLP = (8, 8, 6, 4), (False, False, False, True), 8, 2


def g_running_state(channels=CHANNELS, fused=FUSED, style_dim=STYLE_DIM, n_mlp=N_MLP, seed=0) -> dict:
    """A random ``g_running`` state dict written from rosinality's key list and shapes (not from our module)."""
    g = torch.Generator().manual_seed(seed)
    r = lambda *shape, s=1.0: torch.randn(*shape, generator=g) * s  # noqa: E731
    blur = torch.tensor([[1.0, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16
    sd = {}
    for i, c_out in enumerate(channels):
        c_in, p = channels[max(i - 1, 0)], f"generator.progression.{i}"
        if i == 0:
            sd[f"{p}.conv1.input"] = r(1, c_out, 4, 4)
        else:
            conv, blur_at = (f"{p}.conv1.0", f"{p}.conv1.1") if fused[i] else (f"{p}.conv1.1.conv", f"{p}.conv1.2")
            sd[f"{conv}.{'weight' if fused[i] else 'weight_orig'}"] = r(c_in, c_out, 3, 3) if fused[i] \
                else r(c_out, c_in, 3, 3)
            sd[f"{conv}.bias"] = r(c_out, s=0.1)
            sd[f"{blur_at}.weight"] = blur.repeat(c_out, 1, 1, 1)
            sd[f"{blur_at}.weight_flip"] = blur.flip(0, 1).repeat(c_out, 1, 1, 1)
        for k in (1, 2):
            sd[f"{p}.noise{k}.weight_orig"] = r(1, c_out, 1, 1)
            sd[f"{p}.adain{k}.style.linear.weight_orig"] = r(2 * c_out, style_dim)
            sd[f"{p}.adain{k}.style.linear.bias"] = torch.cat([1 + r(c_out, s=0.1), r(c_out, s=0.1)])
            if k == 1:
                sd[f"{p}.conv2.conv.weight_orig"] = r(c_out, c_out, 3, 3)
                sd[f"{p}.conv2.conv.bias"] = r(c_out, s=0.1)
    for i, c in enumerate(channels):
        sd[f"generator.to_rgb.{i}.conv.weight_orig"] = r(3, c, 1, 1)
        sd[f"generator.to_rgb.{i}.conv.bias"] = r(3, s=0.1)
    for i in range(n_mlp):
        sd[f"style.{2 * i + 1}.linear.weight_orig"] = r(style_dim, style_dim)
        sd[f"style.{2 * i + 1}.linear.bias"] = r(style_dim, s=0.1)
    return sd


def reference_images(sd, codes, noise, step, *, space="z", psi=1.0, mean_style=None):
    """The authors' map written out in float64 from the state dict alone (rosinality's model.py, read)."""
    sd = {k: v.double() for k, v in sd.items()}
    gain = lambda w: w * math.sqrt(2 / (w.shape[1] * w[0][0].numel()))  # noqa: E731
    lin = lambda x, p: x @ gain(sd[p + ".weight_orig"]).T + sd[p + ".bias"]  # noqa: E731
    conv = lambda x, p, pad: F.conv2d(x, gain(sd[p + ".weight_orig"]), sd[p + ".bias"], padding=pad)  # noqa: E731
    blur = lambda x, p: F.conv2d(x, sd[p], padding=1, groups=x.shape[1])  # noqa: E731
    x = codes.double()
    if space == "z":
        x = x / torch.sqrt(torch.mean(x ** 2, dim=1, keepdim=True) + 1e-8)
        for i in range(sum(k.endswith("linear.weight_orig") and k.startswith("style.") for k in sd)):
            x = F.leaky_relu(lin(x, f"style.{2 * i + 1}.linear"), 0.2)
        if psi != 1.0:
            x = mean_style.double() + psi * (x - mean_style.double())
    styles = [x] * (step + 1) if space != "w+" else list(x.reshape(x.shape[0], step + 1, -1).unbind(1))
    out = sd["generator.progression.0.conv1.input"].repeat(x.shape[0], 1, 1, 1)
    for i in range(step + 1):
        p = f"generator.progression.{i}"
        if f"{p}.conv1.0.weight" in sd:
            w = sd[f"{p}.conv1.0.weight"]
            w = F.pad(w * math.sqrt(2 / (w.shape[0] * 9)), [1, 1, 1, 1])
            w = (w[:, :, 1:, 1:] + w[:, :, :-1, 1:] + w[:, :, 1:, :-1] + w[:, :, :-1, :-1]) / 4
            out = blur(F.conv_transpose2d(out, w, sd[f"{p}.conv1.0.bias"], stride=2, padding=1), f"{p}.conv1.1.weight")
        elif i > 0:
            out = F.interpolate(out, scale_factor=2, mode="nearest")
            out = blur(conv(out, f"{p}.conv1.1.conv", 1), f"{p}.conv1.2.weight")
        for k in (1, 2):
            if k == 2:
                out = conv(out, f"{p}.conv2.conv", 1)
            out = F.leaky_relu(out + gain(sd[f"{p}.noise{k}.weight_orig"]) * noise[i].double(), 0.2)
            gamma, beta = lin(styles[i], f"{p}.adain{k}.style.linear")[:, :, None, None].chunk(2, 1)
            out = gamma * F.instance_norm(out) + beta
    return conv(out, f"generator.to_rgb.{step}.conv", 0)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny checkpoint in the published format: train.py's dict, g_running among the other entries."""
    sd = g_running_state()
    path = tmp_path_factory.mktemp("sg1") / "train_step-4.model"
    torch.save({"generator": g_running_state(seed=1), "discriminator": {"linear.weight": torch.zeros(1, 4)},
                "g_optimizer": {"state": {}, "param_groups": [{"lr": 1e-3, "params": [0, 1]}]},
                "d_optimizer": {"state": {}, "param_groups": []}, "g_running": sd}, path)
    return path, sd


def _noise(step, seed=3, batch=1):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, 1, 4 * 2 ** i, 4 * 2 ** i, generator=g) for i in range(step + 1)]


@pytest.mark.parametrize("space,resolution,psi", [("z", 32, 0.7), ("z", 16, 1.0), ("w", 32, 0.7), ("w+", 8, 0.5)])
def test_images_match_the_authors_map_in_float64(checkpoint, space, resolution, psi):
    path, sd = checkpoint
    step = int(math.log2(resolution)) - 2
    noise, mean = _noise(step), torch.randn(1, STYLE_DIM, generator=torch.Generator().manual_seed(5))
    G = ganmetric.load_generator("stylegan1", weights=str(path), latent_space=space, resolution=resolution,
                                 truncation=psi, noise=noise, mean_style=mean, dtype="float64")
    codes = G.sample(3, seed=1)
    with torch.no_grad():
        got = G(codes)
    assert got.shape == (3, 3, resolution, resolution)
    ref = reference_images(sd, codes, noise, step, space=space, psi=psi, mean_style=mean)
    assert torch.allclose(got, ref, rtol=0, atol=1e-10 * ref.abs().max())
    assert G.latent_dim == (step + 1) * STYLE_DIM if space == "w+" else STYLE_DIM


def test_loading_is_strict_one_line_per_fault(checkpoint, tmp_path):
    _, sd = checkpoint
    for name, state in [("missing", {k: v for k, v in sd.items() if k != "generator.progression.2.noise2.weight_orig"}),
                        ("extra", {**sd, "generator.progression.1.noise1.extra": torch.zeros(1)}),
                        ("shape", {**sd, "style.3.linear.bias": torch.zeros(5)})]:
        torch.save({"g_running": state}, tmp_path / f"{name}.model")
        with pytest.raises(WeightsError) as err:
            ganmetric.load_generator("stylegan1", weights=str(tmp_path / f"{name}.model"), resolution=16)
        assert "\n" not in str(err.value)
        assert {"missing": "noise2.weight_orig", "extra": "noise1.extra", "shape": "style.3.linear.bias"}[name] \
            in str(err.value)


def test_blur_buffers_are_used_weight_flip_must_be_the_flip(checkpoint, tmp_path):
    _, sd = checkpoint
    bad = dict(sd)
    bad["generator.progression.1.conv1.2.weight_flip"] = torch.rand(8, 1, 3, 3)
    with pytest.raises(WeightsError, match="weight_flip is not the flip of its weight"):
        network_from_state(bad)


def test_a_bare_g_running_state_dict_loads_the_same(checkpoint, tmp_path):
    path, sd = checkpoint
    torch.save(sd, tmp_path / "000100.model")
    kw = {"resolution": 16, "truncation": 1.0}
    z = torch.randn(2, STYLE_DIM, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(ganmetric.load_generator("stylegan1", weights=str(tmp_path / "000100.model"), **kw)(z),
                           ganmetric.load_generator("stylegan1", weights=str(path), **kw)(z))


def test_other_families_and_files_are_refused_in_one_line(tmp_path):
    torch.save({"g_ema": {"input.input": torch.zeros(1)}, "latent_avg": torch.zeros(4)}, tmp_path / "sg2.pt")
    torch.save({"shared.weight": torch.zeros(3, 2), "linear.weight": torch.zeros(4, 2)}, tmp_path / "bigbigan.pth")
    (tmp_path / "photo.model").write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 64)
    for name, words in [("sg2.pt", "StyleGAN2 checkpoint (key 'g_ema')"), ("bigbigan.pth", "found linear.weight"),
                        ("photo.model", "not weights saved with torch.save")]:
        with pytest.raises(WeightsError) as err:
            ganmetric.load_generator("stylegan1", weights=str(tmp_path / name))
        assert words in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(InputError, match="weights file not found"):
        ganmetric.load_generator("stylegan1", weights=str(tmp_path / "absent.model"))


@pytest.mark.parametrize("resolution", [64, 24, 2, 32.0, True])
def test_a_resolution_the_checkpoint_does_not_hold_is_refused(checkpoint, resolution):
    with pytest.raises(InputError, match=r"resolution must be one of 4, 8, 16, 32 \(the scales this checkpoint holds"):
        ganmetric.load_generator("stylegan1", weights=str(checkpoint[0]), resolution=resolution)


@pytest.mark.parametrize("noise,words", [
    (lambda: _noise(2)[:2], "noise must hold 3 arrays for resolution 16 (one per scale 4, 8, 16), got 2"),
    (lambda: _noise(2, batch=4), "noise[0] (scale 4) must have shape (1, 1, 4, 4) or (4, 4)"),
    (lambda: [n[0, 0] for n in _noise(2)][::-1], "noise[0] (scale 4) must have shape"),
    (lambda: [n * float("nan") for n in _noise(2)], "noise[0] contains NaN or inf"),
    (lambda: torch.zeros(1, 1, 4, 4), "noise must be a list of 3 arrays"),
    (lambda: ["x", "y", "z"], "noise[0] must be an array of numbers"),
])
def test_bad_noise_is_refused_in_one_line(checkpoint, noise, words):
    with pytest.raises(InputError) as err:
        ganmetric.load_generator("stylegan1", weights=str(checkpoint[0]), resolution=16, noise=noise())
    assert words in str(err.value) and "\n" not in str(err.value) and err.value.argument == "noise"


def test_noise_and_mean_style_files(checkpoint, tmp_path):
    noise, mean = _noise(2), torch.randn(STYLE_DIM, generator=torch.Generator().manual_seed(2))
    np.savez(tmp_path / "noise.npz", *[n.numpy() for n in noise])
    np.save(tmp_path / "mean.npy", mean.numpy())
    kw = {"weights": str(checkpoint[0]), "resolution": 16}
    from_files = ganmetric.load_generator("stylegan1", noise=str(tmp_path / "noise.npz"),
                                          mean_style=str(tmp_path / "mean.npy"), **kw)
    from_arrays = ganmetric.load_generator("stylegan1", noise=[n.numpy()[0, 0] for n in noise], mean_style=mean, **kw)
    z = from_files.sample(2, seed=0)
    with torch.no_grad():
        assert torch.equal(from_files(z), from_arrays(z))
    assert from_files.map_options() == from_arrays.map_options()
    opts = from_files.map_options()
    assert opts["noise_seed"] is None and len(opts["noise_sha256"]) == 64
    assert opts["mean_style_seed"] is None and len(opts["mean_style_sha256"]) == 64
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object))
    for kwargs, words in [({"noise": str(tmp_path / "mean.npy")}, "noise file must be a .npz file"),
                          ({"noise": str(tmp_path / "absent.npz")}, "noise file not found"),
                          ({"mean_style": str(tmp_path / "obj.npy")}, "cannot read the mean_style file"),
                          ({"mean_style": np.zeros(STYLE_DIM + 1)}, f"mean_style must have shape ({STYLE_DIM},)"),
                          ({"noise": noise, "noise_seed": 1}, "give noise or noise_seed, not both"),
                          ({"mean_style": mean, "mean_style_seed": 1}, "give mean_style or mean_style_seed")]:
        with pytest.raises(InputError) as err:
            ganmetric.load_generator("stylegan1", **kw, **kwargs)
        assert words in str(err.value) and "\n" not in str(err.value)


def test_seeded_noise_and_mean_style_are_recorded_and_reproducible(checkpoint):
    kw = {"weights": str(checkpoint[0]), "resolution": 16, "truncation": 0.7}
    a = ganmetric.load_generator("stylegan1", **kw)
    b = ganmetric.load_generator("stylegan1", noise_seed=0, mean_style_seed=0, **kw)
    c = ganmetric.load_generator("stylegan1", noise_seed=1, **kw)
    assert a.map_options() == b.map_options() == {
        "resolution": 16, "truncation": 0.7, "noise_seed": 0, "noise_sha256": None, "mean_style_seed": 0,
        "mean_style_sha256": None, "clamp": False}
    z = a.sample(2, seed=4)
    with torch.no_grad():
        assert torch.equal(a(z), b(z)) and not torch.allclose(a(z), c(z))
    g = torch.Generator().manual_seed(0)  # scale by scale, float32: the first scales do not depend on the resolution
    assert all(torch.equal(n, torch.randn(1, 1, 4 * 2 ** i, 4 * 2 ** i, generator=g)) for i, n in enumerate(a.noises()))
    # truncation 1 needs no mean style: none is estimated or recorded
    assert ganmetric.load_generator("stylegan1", **{**kw, "truncation": 1.0}).map_options()["mean_style_seed"] is None


def test_mean_style_is_the_authors_estimate(checkpoint):
    """get_mean_style: 10 batches of 1024 z from the (here: private, seeded) RNG, the mean of the batch means."""
    G = ganmetric.load_generator("stylegan1", weights=str(checkpoint[0]), resolution=16, truncation=0.7,
                                 mean_style_seed=11)
    torch.manual_seed(11)  # the authors drew from the global RNG; the same stream, seeded the same way
    total = None
    for _ in range(10):
        z = torch.randn(1024, STYLE_DIM).double()
        x = z / torch.sqrt(torch.mean(z ** 2, dim=1, keepdim=True) + 1e-8)
        for i in range(N_MLP):
            w, b = (checkpoint[1][f"style.{2 * i + 1}.linear.{k}"].double() for k in ("weight_orig", "bias"))
            x = F.leaky_relu(x @ (w * math.sqrt(2 / STYLE_DIM)).T + b, 0.2)
        total = x.mean(0) if total is None else total + x.mean(0)
    assert torch.allclose(G.mean_style.double(), total / 10, rtol=0, atol=1e-5 * total.abs().max())
    assert torch.equal(estimate_mean_style(G.g_running, 11).reshape(-1), G.mean_style)


def test_sample_draws_codes_as_the_authors(checkpoint):
    kw = {"weights": str(checkpoint[0]), "resolution": 16, "truncation": 0.7}
    Gz, Gw, Gp = (ganmetric.load_generator("stylegan1", latent_space=s, **kw) for s in ("z", "w", "w+"))
    z = Gz.sample(3, seed=7)
    assert torch.equal(z, normal_rows(3, STYLE_DIM, 7).float())
    w = Gw.sample(3, seed=7)
    assert torch.allclose(w, Gz.mapping(z), atol=1e-5) and torch.equal(Gp.sample(3, seed=7), w.repeat(1, 3))
    assert torch.equal(Gw.sample(40, seed=7)[:3], w)  # row i does not depend on n (mapped row by row in float64)
    with torch.no_grad():  # the same style in every block: z through the mapping, w, and w+ agree
        assert torch.allclose(Gz(z), Gw(w), atol=1e-5) and torch.allclose(Gw(w), Gp(w.repeat(1, 3)), atol=1e-6)


def test_clamp_option_and_float64(checkpoint):
    kw = {"weights": str(checkpoint[0]), "resolution": 16, "truncation": 1.0}
    G, Gc = ganmetric.load_generator("stylegan1", **kw), ganmetric.load_generator("stylegan1", clamp=True, **kw)
    z = G.sample(2, seed=0)
    with torch.no_grad():
        x = G(z)
        assert x.abs().max() > 1 and torch.equal(Gc(z), x.clamp(-1, 1))
        G64 = ganmetric.load_generator("stylegan1", dtype="float64", **kw)
        assert torch.allclose(G64(z.double()).float(), x, atol=1e-4)
    assert Gc.map_options()["clamp"] is True


def test_metric_matches_the_dense_reference(checkpoint):
    G = ganmetric.load_generator("stylegan1", weights=str(checkpoint[0]), resolution=8, truncation=0.7,
                                 dtype="float64")
    assert_jacobian_matches_dense(G, G.sample(1, seed=2)[0])


@needs_zoo
class TestFixtures:
    """The repository's own outputs (stylegan1_rosinality*, README section 5), 1e-4 x max|ref| in float32."""

    @pytest.fixture(scope="class")
    def zoo(self):
        R = np.load(ZOO / "stylegan1_rosinality_ref.npz")
        G = ganmetric.load_generator("stylegan1", weights=str(ZOO / "stylegan1_rosinality.model"), resolution=32,
                                     truncation=1.0)
        return R, G.g_running

    def _images(self, zoo, key, *, space="z", psi=1.0, step=3, dtype=torch.float32, count=None):
        """max |G(code_i) - reference_i| / max |reference| over the first ``count`` images (None: all)."""
        R, net = zoo
        net = net if dtype == torch.float32 else network_from_state({k: v.double() for k, v in
                                                                       net.state_dict().items()}).double()
        codes = torch.from_numpy(R["w" if space == "w" else "z"])
        out = []
        count = R[key].shape[0] if count is None else count
        for i in range(count):
            G = StyleGAN1Generator(net, latent_space=space, resolution=4 * 2 ** step, truncation=psi,
                                   noise=[R[f"noise{step}_{j}"][i:i + 1] for j in range(step + 1)],
                                   mean_style=R["mean_style"]).to(dtype=dtype)
            with torch.no_grad():
                out.append(G(codes[i:i + 1].to(dtype)))
        got, ref = torch.cat(out).double(), torch.from_numpy(R[key][:count]).double()
        return float((got - ref).abs().max() / ref.abs().max())

    # every image of the plain case; 2 of the 4 where only truncation or the latent space changes (each image
    # runs the same code with other codes and noise)
    @pytest.mark.parametrize("key,space,psi,count", [("img_step3_sw1", "z", 1.0, None), ("img_step3_sw07", "z", 0.7, 2),
                                                     ("img_step3_wspace", "w", 1.0, 2)])
    def test_float32(self, zoo, key, space, psi, count):
        assert self._images(zoo, key, space=space, psi=psi, count=count) < 1e-4

    @pytest.mark.slow  # a float64 copy of the 26 M-parameter network
    @pytest.mark.parametrize("key,space,psi", [("img_step3_sw1_f64", "z", 1.0), ("img_step3_sw07_f64", "z", 0.7),
                                               ("img_step3_wspace_f64", "w", 1.0)])
    def test_float64(self, zoo, key, space, psi):
        assert self._images(zoo, key, space=space, psi=psi, dtype=torch.float64) < 1e-9

    @pytest.mark.slow  # 128 px: FusedUpsample, Blur and the 64 -> 128 blocks
    def test_step5(self, zoo):
        assert self._images(zoo, "img_step5_sw07", psi=0.7, step=5) < 1e-4

    def test_the_published_layout(self, zoo):
        R, net = zoo
        state = net.state_dict()
        assert len(state) == 139 and net.n_blocks == 9 and net.max_resolution == 1024
        assert sum(p.numel() for p in net.parameters()) == pytest.approx(26.2e6, rel=0.01)
        fused = [f"generator.progression.{i}.conv1.0.weight" in state for i in range(9)]
        assert fused == [False] * 5 + [True] * 4


def test_a_recorded_digest_needs_the_same_arrays_again(checkpoint):
    """What a rebuilt model gets from a result file's record: the digests of the arrays the user gave."""
    noise, mean = _noise(2), np.full(STYLE_DIM, 0.2, dtype=np.float32)
    kw = {"weights": str(checkpoint[0]), "resolution": 16}
    made = ganmetric.load_generator("stylegan1", noise=noise, mean_style=mean, **kw).map_options()
    record = {"noise_sha256": made["noise_sha256"], "mean_style_sha256": made["mean_style_sha256"]}
    again = ganmetric.load_generator("stylegan1", noise=noise, mean_style=mean, **kw, **record)
    assert again.map_options() == made
    for given, words in [({"mean_style": mean}, "noise must be given again: the model was made with arrays you gave "
                                                f"(sha256 {made['noise_sha256'][:12]})"),
                         ({"noise": noise}, "mean_style must be given again"),
                         ({"noise": [2 * n for n in noise], "mean_style": mean}, "noise differs from the arrays the "
                                                                                 "model was made with")]:
        with pytest.raises(InputError) as err:
            ganmetric.load_generator("stylegan1", **kw, **record, **given)
        assert words in str(err.value)


def test_loads_and_runs_with_the_default_device_meta(checkpoint):
    """Every tensor the family creates names its device: with torch's default device set to meta, a model on
    the CPU still loads (noise drawn, mean style estimated, weights folded) and gives the same images."""
    kw = {"weights": str(checkpoint[0]), "resolution": 16, "truncation": 0.7, "latent_space": "w+"}
    G = ganmetric.load_generator("stylegan1", **kw)
    w = torch.randn(2, 3 * STYLE_DIM, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = G(w)
        torch.set_default_device("meta")
        try:
            G_meta = ganmetric.load_generator("stylegan1", **kw)
            got = G_meta(w)
        finally:
            torch.set_default_device(None)
    assert got.device.type == "cpu" and torch.equal(got, ref) and torch.equal(G_meta.mean_style, G.mean_style)

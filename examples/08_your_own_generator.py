"""
# Your own generator and distance

Any differentiable generator and distance work. A generator subclasses `ganmetric.Generator` and writes
`_generate` (codes `(B, n)` to images `(B, C, H, W)` in [-1, 1]); a distance with the squared-feature form
`d(x, y) = ‖φ(x) − φ(y)‖²` is `FeatureDistance(φ)`, and gets the fast exact methods. Below, both in 20 lines,
and the metric they make checked two ways: against an independent method (exact forward-over-reverse products
of the same distance written as a plain function) and against a real step.
"""
import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

import ganmetric
from ganmetric.distances import FeatureDistance, FunctionDistance


class TinyGenerator(ganmetric.Generator):
    """16-d codes to 3 x 16 x 16 images: linear, bilinear upsampling, convolution, tanh."""

    def __init__(self, seed=0):
        super().__init__(name="tiny", latent_dim=16, resolution=16)
        self.fc = nn.Linear(16, 8 * 4 * 4)
        self.rgb = nn.Conv2d(8, 3, 3, padding=1)
        rng = torch.Generator(device="cpu").manual_seed(seed)  # seeded weights
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(0.25 * torch.randn(p.shape, generator=rng))
        self.freeze()  # eval mode, no gradients to the weights

    def _generate(self, z):
        x = torch.relu(self.fc(z)).view(-1, 8, 4, 4)
        x = nn.functional.interpolate(x, scale_factor=4, mode="bilinear")
        return torch.tanh(self.rgb(x))


def edges(x):
    """Features: horizontal and vertical differences of the grey image."""
    grey = x.mean(dim=1)
    dx, dy = grey[:, :, 1:] - grey[:, :, :-1], grey[:, 1:] - grey[:, :-1]
    return torch.cat([dx.flatten(1), dy.flatten(1)], dim=1)


G = TinyGenerator()
D = FeatureDistance(edges, name="edges")   # d(x, y) = |edges(x) - edges(y)|^2
z0 = G.sample(1, seed=0)
res = ganmetric.metric_tensor(G, D, z0)    # "auto": the full H = 2 J^T J

# %%
# Two checks
# ----------
# The same distance as a plain function, by exact forward-over-reverse Hessian-vector products; then a real step
# of `t = 0.001` along the top eigenvector against `λ t²/2`.

plain = FunctionDistance(lambda x, y: ((edges(x) - edges(y)) ** 2).sum(dim=1))
other = ganmetric.metric_tensor(G, plain, z0, method="fwd-over-rev")
difference = float((res.H - other.H).abs().max())
print(f"{res.method} vs {other.method}: H differs by at most {difference:.2e}, "
      f"its largest entry is {float(res.H.abs().max()):.3f}")
t, v = 1e-3, res.eigvecs[:, 0]
with torch.no_grad():
    real = float(D(G(z0), G(z0 + t * v)))
print(f"real / predicted distance: {real / (float(res.eigvals[0]) * t**2 / 2):.4f}")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
ranks = np.arange(1, G.latent_dim + 1)
ax1.semilogy(ranks, res.eigvals.numpy(), "o-", label=f"{res.method} (feature form)")
ax1.semilogy(ranks, other.eigvals.numpy(), "x", ms=8, label=f"{other.method} (function)")
ax1.set_xlabel("rank")
ax1.set_ylabel("eigenvalue of H")
ax1.set_title("the two methods agree")
ax1.legend()
with torch.no_grad():
    images = G(G.sample(6, seed=1)).permute(0, 2, 3, 1).add(1).div(2).numpy()
ax2.imshow(np.concatenate(list(images), axis=1))
ax2.set_title("six samples of the tiny (untrained) generator")
ax2.axis("off")
fig.tight_layout()

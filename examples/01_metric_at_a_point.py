"""
# The metric at one point, and its scale

The metric `H(z0)` of a real pretrained GAN (`dcgan-face`: a DCGAN of faces, 64 x 64 pixels, latent size
n = 100) under LPIPS, and a check of the scale convention against real steps: along a unit eigenvector `v` with
eigenvalue `λ`, the image moves by `d(G(z0), G(z0 + t v)) ≈ λ t² / 2` for small `t` (`H` is the Hessian of `d`,
so Taylor's 1/2 stays).

LPIPS runs here with its seeded untrained backbone (`lpips_backbone="random"`: offline, the same weights on every
run); with a network, `"pretrained"` gives the perceptual metric of the paper.
"""
import matplotlib.pyplot as plt
import numpy as np
import torch

import ganmetric

G = ganmetric.load_generator("dcgan-face")
D = ganmetric.load_distance("lpips-alex", lpips_backbone="random")
z0 = G.sample(1, seed=0)                 # (1, 100): row 0 of the seeded prior sample
res = ganmetric.metric_tensor(G, D, z0)  # "auto": the full H = 2 J^T J (100 x 100)
print(f"method {res.method}, H {tuple(res.H.shape)}, {res.seconds:.2f} s")
print("top eigenvalues:", np.round(res.eigvals[:5].numpy(), 4))

# %%
# Real steps against the prediction
# ---------------------------------
# Move `z0` by `t` along the eigenvectors of rank 0, 9 and 49 and measure the real LPIPS distance.

ts = np.geomspace(1e-3, 10, 30)
fig, ax = plt.subplots(figsize=(7, 4.5))
with torch.no_grad():
    x0 = G(z0)
    for rank, colour in [(0, "C0"), (9, "C1"), (49, "C2")]:
        lam, v = float(res.eigvals[rank]), res.eigvecs[:, rank]
        steps = torch.tensor(ts, dtype=z0.dtype, device=z0.device)[:, None]
        real = D(x0.expand(len(ts), -1, -1, -1), G(z0 + steps * v)).numpy()
        predicted = lam * ts**2 / 2
        ax.loglog(ts, real, "o", ms=4, color=colour, label=f"rank {rank}: real")
        ax.loglog(ts, predicted, "-", color=colour,
                  label=f"rank {rank}: λ t²/2, λ = {lam:.3g}")
        print(f"rank {rank:2d}: real / predicted at t = {ts[0]:.0e}: "
              f"{real[0] / predicted[0]:.4f}")
ax.set_xlabel("step t along the unit eigenvector (latent units)")
ax.set_ylabel("LPIPS distance from G(z0)")
ax.set_title("dcgan-face, LPIPS (random backbone): real distance and prediction")
ax.legend(fontsize=8)
fig.tight_layout()

# %%
# For small steps the ratio is 1 to a few parts in a thousand: the eigenvalues are on the scale of `d` itself.
# Beyond `t` of about 0.1 (rank 0) to 1 (rank 49) the real distance grows more slowly than the quadratic:
# the eigenvalues rank directions by their effect on *small* steps.
#
# The image at `z0`, and steps of `t = ±3` along the top eigenvector:

v0 = res.eigvecs[:, 0]
with torch.no_grad():
    images = G(torch.cat([z0 - 3 * v0, z0, z0 + 3 * v0]))
images = ((images.permute(0, 2, 3, 1) + 1) / 2).clamp(0, 1).numpy()  # (3, H, W, C)
fig, axes = plt.subplots(1, 3, figsize=(7, 2.8))
for ax, image, label in zip(axes, images, ["z0 - 3 v0", "z0", "z0 + 3 v0"]):
    ax.imshow(image)
    ax.set_title(label)
    ax.axis("off")
fig.suptitle("a step along the top eigenvector of H")
fig.tight_layout()

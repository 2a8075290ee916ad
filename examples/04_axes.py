"""
# Axes, montages and calibrated steps

The metric's eigenvectors are candidate interpretable directions, ordered by how much a *small* step along them
changes the image. Here the top 10 eigenvectors of `dcgan-face`'s metric under pixel MSE at one point become
axes: a montage of even steps along five of them, the real distance along each against the quadratic prediction
`λ t²/2`, and steps calibrated so that every cell of a row is a given real distance from the reference.
"""
import matplotlib.pyplot as plt
import numpy as np

import ganmetric
from ganmetric.axes import calibrate_steps, distance_curves, explore_montage

G = ganmetric.load_generator("dcgan-face")
D = ganmetric.load_distance("mse")
res = ganmetric.metric_tensor(G, D, G.sample(1, seed=0))
axes = ganmetric.export_axes(res, top=10)  # .axes (10, 100) unit rows, .eigvals, .points
z0, shown = axes.points[0], [0, 1, 2, 4, 8]
print("eigenvalues of the axes shown:", np.round(axes.eigvals[shown], 4))

even = explore_montage(G, z0, axes, indices=shown, steps=7, amount_range=3.0)
fig, ax = plt.subplots(figsize=(8, 6.5))
ax.imshow(even.image)  # a PIL image, captioned by ganmetric: .save("grid.png") writes it
ax.axis("off")
fig.tight_layout()

# %%
# Real distance against the prediction
# ------------------------------------
# The eigenvalue ranks the axes for small steps only: by `t = ±3` axis 1 moves the image more than axis 0.

ts = np.linspace(-6, 6, 61)
real = distance_curves(G, D, z0, axes, shown, ts)  # (5, 61) MSE from the reference
fig, ax = plt.subplots(figsize=(7, 4.5))
for row, i in enumerate(shown):
    ax.plot(ts, real[row], color=f"C{row}", label=f"axis {i}, λ = {axes.eigvals[i]:.3f}")
    ax.plot(ts, axes.eigvals[i] * ts**2 / 2, "--", color=f"C{row}", lw=0.8)
ax.set_ylim(0, 1.2 * real.max())
ax.set_xlabel("step t along the axis (latent units)")
ax.set_ylabel("MSE from the reference image")
ax.set_title("real distance (solid) and the metric's prediction λ t²/2 (dashed)")
ax.legend(fontsize=8)
fig.tight_layout()

# %%
# Calibrated steps
# ----------------
# Per axis and side, the step `t` at which the real distance reaches 0.025 and 0.05 (bracketed, then bisected on
# the real distance, starting from the metric's guess `sqrt(2 d / λ)`): rows become comparable.

cal = calibrate_steps(G, D, z0, axes, indices=shown, max_distance=0.05, n_targets=2)
print("calibrated steps t (rows: axes; columns: MSE -0.05, -0.025, 0, +0.025, +0.05):")
print(np.round(cal.steps, 2))
calibrated = explore_montage(G, z0, axes, indices=shown, calibrated=cal)
fig, ax = plt.subplots(figsize=(7, 7))
ax.imshow(calibrated.image)
ax.axis("off")
fig.tight_layout()

# %%
# From the shell: `ganmetric axes export face.npz --top 10 --out axes.npz`, then
# `ganmetric explore --axes axes.npz --axes-list 0,1,2,4,8 --calibrate 0.05 --curves curves.png --out grid.png`.

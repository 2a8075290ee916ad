"""
# A geodesic against the straight line

Every GAN paper interpolates with a straight line or SLERP; neither looks at the images. The discrete geodesic
minimises the path's energy `E = T Σ s_i²` (with `s_i = sqrt(d(G(z_i), G(z_{i+1})))`) over the interior codes:
its images change as little and as evenly as possible under the chosen distance. Here between two seeded faces
of `dcgan-face` under pixel MSE, with 8 codes per path.
"""
# mkdocs_gallery_thumbnail_number = 2
import matplotlib.pyplot as plt
import numpy as np
import torch

import ganmetric
from ganmetric.paths import compare_paths

G = ganmetric.load_generator("dcgan-face")
D = ganmetric.load_distance("mse")
z_a, z_b = G.sample(1, seed=1)[0], G.sample(1, seed=2)[0]
# tol: the geodesic stops when its energy falls by less than 0.1% per iteration (the default, 0.01%, takes about
# twice as long here, for an energy 3% lower)
paths = compare_paths(G, D, z_a, z_b, methods="geodesic,linear,slerp", points=8, tol=1e-3)
for name, path in paths.items():  # name -> LatentPath
    print(f"{name:9s} length {path.length:.4f}  energy {path.energy:.4f}  "
          f"max/mean step {path.evenness:.3f}")
ratio = paths["geodesic"].length / paths["linear"].length
print(f"geodesic / straight line: {ratio:.3f} of the length")

# %%
# Step sizes and frames
# ---------------------
fig, ax = plt.subplots(figsize=(7, 3.8))
for name, path in paths.items():
    ax.plot(np.arange(1, len(path.steps) + 1), path.steps, "o-", ms=4,
            label=f"{name}: length {path.length:.3f}")
ax.set_xlabel("step i (from code i-1 to code i)")
ax.set_ylabel("step size s_i = sqrt(MSE)")
ax.set_title("the geodesic's steps are short and even")
ax.set_ylim(bottom=0)
ax.legend()
fig.tight_layout()

fig, axes = plt.subplots(len(paths), 8, figsize=(9, 3.8))
for row, (name, path) in zip(axes, paths.items()):
    with torch.no_grad():
        images = G(path.codes.to(G.device))                 # (8, C, H, W) in [-1, 1]
    images = ((images.permute(0, 2, 3, 1) + 1) / 2).clamp(0, 1).cpu().numpy()
    for ax, image in zip(row, images):
        ax.imshow(image)
        ax.set_xticks([])
        ax.set_yticks([])
    row[0].set_ylabel(name)
fig.suptitle("the three paths, frame by frame, from seed 1 (left) to seed 2 (right)")
fig.tight_layout()

# %%
# Under pixel MSE the geodesic gets there by cross-fading: its middle frames are blends of the two faces, which
# MSE rates as close to both. A perceptual distance judges such blends differently; the geodesic is always the
# shortest path *under the distance you chose*. From the shell: `ganmetric path --model dcgan-face --distance
# mse --from-seed 1 --to-seed 2 --points 8 --tol 1e-3 --out path8`.

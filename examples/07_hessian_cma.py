"""
# Hessian-aware CMA-ES against CMA-ES

Black-box optimisation: find the image that maximises a score that gives no gradients, here the mean activation
of channel 0 of AlexNet's second convolution (`features.3`), as in the paper's neuron-evolution experiments.
CMA-ES searches the full code `z`; Hessian-aware CMA-ES (`hess-cma`) searches the coefficients of the top 20
eigenvectors of an average metric; random search is the floor. Every method starts from the same codes with the
same budget of scored images (102: six generations of 17).

AlexNet runs with seeded random weights (`objective_weights="random"`: offline and reproducible; not a trained
network: leave it out for ImageNet's weights).
"""
import tempfile

import matplotlib.pyplot as plt
import numpy as np

import ganmetric
from ganmetric import blackbox
from ganmetric.analysis import average_metric, batch_codes, batch_metric, load_results

G = ganmetric.load_generator("dcgan-face")
folder = tempfile.mkdtemp(prefix="ganmetric-basis-")
codes = batch_codes(G, 4, seed=1000, out_dir=folder)
batch_metric(G, ganmetric.load_distance("mse"), codes, folder, seed=1000)
basis = average_metric(load_results(folder))  # the average metric of 4 points

unit = "unit:torchvision:alexnet:features.3:0"
cmp = blackbox.compare(G, unit, ["random", "cma", "hess-cma"], seeds=2, basis=basis,
                       top=20, eigval_power=0.0, budget=102, objective_weights="random")
medians, wins, finals = cmp.medians(), cmp.wins(), cmp.table()
for label in cmp.labels:
    scores = ", ".join(f"{s:.4f}" for s in finals[label].values())
    print(f"{label:9s} median best {medians[label]:.4f}  wins {wins[label]}/2  "
          f"final best per seed: {scores}")

# %%
# Best score so far against images scored
# ---------------------------------------
fig, (ax, ax_images) = plt.subplots(1, 2, figsize=(11, 4),
                                    gridspec_kw={"width_ratios": [3, 2]})
for label, colour in zip(cmp.labels, ["C7", "C0", "C1"]):
    for seed in cmp.complete_seeds():
        trace = cmp.run(label, seed).trace
        ax.plot(trace["evaluations"], trace["best_so_far"], color=colour,
                label=label if seed == 0 else None)
ax.set_xlabel("images scored")
ax.set_ylabel("best activation so far")
ax.set_title("one line per method and seed (2 seeds)")
ax.legend()
best = [cmp.run(label, 0) for label in cmp.labels]
images = [r.image.permute(1, 2, 0).numpy() for r in best]  # (H, W, C) in [-1, 1]
ax_images.imshow(np.clip((np.concatenate(images, axis=1) + 1) / 2, 0, 1))
ax_images.set_title("best image of seed 0: "
                    + ", ".join(f"{r.label} {r.score:.3f}" for r in best), fontsize=9)
ax_images.axis("off")
fig.tight_layout()

# %%
# On this objective and these two seeds the eigenbasis pays; `benchmarks/RESULTS.md` in the repository has the
# comparison over many objectives. From the shell: `ganmetric optimize --model dcgan-face --objective
# unit:torchvision:alexnet:features.3:0 --objective-weights random --method random,cma,hess-cma
# --hessian face_avg.npz --top 20 --eigval-power 0 --budget 102 --seeds 2 --out evolve`.

"""
# Homogeneity: the same directions matter everywhere

The paper's second finding: the metric is homogeneous. The eigenvectors found at one point rank the image change
at another point almost as that point's own eigenvectors do. For points `i` and `j`, `vHv_ij[k] = u_k(i)ᵀ H_j
u_k(i)` is the metric at `j` along the k-th eigenvector of `i`; its correlation with `j`'s own eigenvalues over the
ranks k, on a log scale, is the consistency of the pair (1: the same ordering). `homogeneity` computes it for every
ordered pair of a set of results.
"""
import tempfile

import matplotlib.pyplot as plt
import numpy as np

import ganmetric
from ganmetric.analysis import batch_codes, batch_metric, homogeneity, load_results

G = ganmetric.load_generator("dcgan-face")
D = ganmetric.load_distance("mse")
folder = tempfile.mkdtemp(prefix="ganmetric-homogeneity-")
batch_metric(G, D, batch_codes(G, 10, seed=0, out_dir=folder), folder, seed=0)
rs = load_results(folder)
h = homogeneity(rs)                       # (10, 10) matrices, rows i, columns j
pairs = ~np.eye(len(h.corr_log), dtype=bool)
for name, corr in [("log-scale", h.corr_log), ("linear-scale", h.corr_linear),
                   ("corr(vec H_i, vec H_j)", h.corr_vec)]:
    values = corr[pairs]                  # the 90 ordered pairs i != j
    print(f"{name:22s}: mean {np.nanmean(values):.3f}, min {np.nanmin(values):.3f}")

# %%
# One pair, as the paper draws it, and all pairs
# ----------------------------------------------
# The eigenvectors of point 0 under the metric of point 1, against point 1's own eigenvalues.

H1 = rs.metrics()[1]                      # (n, n) the metric at point 1
u0 = rs.eigvecs[0]                        # (n, k) the eigenvectors of point 0
vhv = np.einsum("nk,nm,mk->k", u0, H1, u0)
fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(13, 4))
ax1.loglog(rs.eigvals[1], vhv, ".", ms=5, label="rank k")
lims = [rs.eigvals[1].min(), rs.eigvals[1].max()]
ax1.plot(lims, lims, "k--", lw=0.8, label="equal")
ax1.set_xlabel("eigenvalue λ_k of point 1")
ax1.set_ylabel("u_k(0)ᵀ H_1 u_k(0)")
ax1.set_title(f"point 0's eigenvectors under H_1 (log corr {h.corr_log[0, 1]:.2f})")
ax1.legend()
image = ax2.imshow(h.corr_log, vmin=0, vmax=1, cmap="viridis")
ax2.set_xticks(range(len(h.corr_log)))
ax2.set_yticks(range(len(h.corr_log)))
ax2.set_xlabel("point j (its metric)")
ax2.set_ylabel("point i (its eigenvectors)")
ax2.set_title("log-scale consistency")
fig.colorbar(image, ax=ax2, fraction=0.046)
ax3.hist(h.corr_log[pairs], bins=30, range=(0, 1), alpha=0.7, label="log scale")
ax3.hist(h.corr_linear[pairs], bins=30, range=(0, 1), alpha=0.7, label="linear scale")
ax3.set_xlabel("correlation over the ranks k")
ax3.set_ylabel("ordered pairs of points")
ax3.set_title(f"consistency of all {pairs.sum()} ordered pairs")
ax3.legend()
fig.suptitle("dcgan-face, pixel MSE, 10 points")
fig.tight_layout()

# %%
# From the shell: `ganmetric homogeneity FOLDER` writes these matrices, a heatmap and a histogram.

"""
# Spectrum and anisotropy over 20 points

The paper's first finding: the metric is highly anisotropic. At every point a few eigen-directions carry almost
all the image change, and the eigenvalues fall over orders of magnitude. Here the metric of `dcgan-face` under
pixel MSE at 20 seeded points, computed with `batch_metric` (one result file per point, resumable), summarised
with `spectrum_stats`: the spectrum (mean and 5-95 percentile band over points) and the anisotropy counts, the
number of eigenvalues holding 99%, 99.9%, ... of the trace.
"""
import tempfile

import matplotlib.pyplot as plt
import numpy as np

import ganmetric
from ganmetric.analysis import batch_codes, batch_metric, load_results, spectrum_stats

G = ganmetric.load_generator("dcgan-face")
D = ganmetric.load_distance("mse")
folder = tempfile.mkdtemp(prefix="ganmetric-spectrum-")
codes = batch_codes(G, 20, seed=0, out_dir=folder)  # rows of G.sample(20, seed=0)
batch_metric(G, D, codes, folder, seed=0)           # 20 result files + a manifest
st = spectrum_stats(load_results(folder))
print(f"{st.spectra.shape[0]} points, latent size {st.dim}")
for t, count, counts in zip(st.thresholds, st.mean_counts, st.point_counts.T):
    print(f"{t:g} of the trace: {count:3d} eigenvalues (mean spectrum), "
          f"{counts.min()}-{counts.max()} per point (median {np.median(counts):.0f})")

# %%
# The spectrum
# ------------
ranks = np.arange(1, st.dim + 1)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
ax1.semilogy(ranks, st.mean, color="C0", label="mean over 20 points")
ax1.fill_between(ranks, st.p5, st.p95, color="C0", alpha=0.25,
                 label="5-95 percentile band")
ax1.set_xlabel("rank of the eigenvalue")
ax1.set_ylabel("eigenvalue λ of H (MSE per latent unit²)")
ax1.set_title("spectrum of the metric")
ax1.legend()
spectra = np.abs(st.spectra)
ax2.plot(ranks, (spectra.cumsum(1) / spectra.sum(1, keepdims=True)).T,
         color="C0", alpha=0.15, lw=0.8)
ax2.plot(ranks, st.mean.cumsum() / st.mean.sum(), color="k", label="mean spectrum")
for t, count in zip(st.thresholds[:2], st.mean_counts[:2]):
    ax2.axvline(count, ls="--", color="grey")
    ax2.text(count + 1, 0.5, f"{t:.1%} at {count}", rotation=90, va="center")
ax2.set_xlabel("number of leading eigenvalues")
ax2.set_ylabel("fraction of the trace")
ax2.set_title("cumulative fraction (thin lines: each point)")
ax2.legend(loc="lower right")
fig.suptitle("dcgan-face, pixel MSE, 20 points")
fig.tight_layout()

# %%
# The command line does the same: `ganmetric batch --model dcgan-face --distance mse --points 20 --seed 0
# --out face_mse`, then `ganmetric spectrum face_mse` (a PNG, a CSV and a JSON of these numbers).

"""
# Inversion, with and without the eigenbasis

Find the code whose image matches a photograph: Adam on the code `z` itself, or Adam on the coefficients `c` of
`z = z_init + U c`, where `U` holds the eigenvectors of a metric (Wang & Ponce 2021: Adam is not
rotation-invariant, so the basis changes its path). Both runs start from the same seeded codes with the same
steps. The target is the portrait that ships with matplotlib, cut to a box around the face (`dcgan-face` makes
tight face crops).
"""
import matplotlib.cbook
import matplotlib.pyplot as plt
import numpy as np

import ganmetric

G = ganmetric.load_generator("dcgan-face")
photo = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
mse = ganmetric.load_distance("mse")
basis = ganmetric.metric_tensor(G, mse, G.sample(1, seed=0))  # its 100 eigenvectors
options = dict(box=(160, 115, 370, 325), steps=75, restarts=2, lr=0.05, seed=0)
plain = ganmetric.invert(G, photo, "mse", **options)
eigen = ganmetric.invert(G, photo, "mse", basis=basis, **options)
for label, r in [("z itself", plain), ("eigenbasis", eigen)]:
    print(f"Adam on {label:10s}: loss {r.loss:.4f}, PSNR {r.fit['psnr_db']:.2f} dB, "
          f"SSIM {r.fit['ssim']:.3f}")

# %%
# Loss curves and fits
# --------------------


def show(image):
    """An image (C, H, W) in [-1, 1] as matplotlib draws it: (H, W, C) in [0, 1]."""
    return np.clip((np.asarray(image).transpose(1, 2, 0) + 1) / 2, 0, 1)


fig = plt.figure(figsize=(11, 3.6))
ax = fig.add_subplot(1, 4, 1)
runs = [("Adam on z", plain, "C0"), ("Adam in the eigenbasis", eigen, "C1")]
for label, r, colour in runs:
    ax.semilogy(r.losses.T, color=colour, lw=1)  # one line per restart
    ax.plot([], [], color=colour, label=label)
ax.set_xlabel("Adam step")
ax.set_ylabel("MSE to the target")
ax.set_title("loss of each restart")
ax.legend(fontsize=8)
panels = [(plain.target, "target (64 x 64)"),
          (plain.image, f"fit in z: PSNR {plain.fit['psnr_db']:.1f} dB"),
          (eigen.image, f"fit in the eigenbasis: {eigen.fit['psnr_db']:.1f} dB")]
for k, (image, title) in enumerate(panels):
    ax = fig.add_subplot(1, 4, k + 2)
    ax.imshow(show(image))
    ax.set_title(title, fontsize=9)
    ax.axis("off")
fig.tight_layout()

# %%
# Neither fit is a likeness: a face GAN of 64 pixels from two random starts reaches a face of about the right
# shape and colours. With LPIPS (`"lpips-alex"`) and more restarts and steps the fits improve; the same run
# from the shell is `ganmetric invert --model dcgan-face --distance mse --image photo.jpg --box 160,115,370,325
# --hessian face.npz --out inv`.

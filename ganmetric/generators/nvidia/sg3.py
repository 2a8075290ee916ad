"""NVIDIA's StyleGAN3 synthesis network (alias-free, configs T and R) in plain PyTorch, without custom CUDA ops.

Module and tensor names are NVIDIA's (``synthesis.input.freqs``, ``synthesis.L3_36_512.weight``,
``...magnitude_ema``, ``...up_filter``, ``...down_filter``), so a network pickle's state loads
strictly. The layer design (cutoffs, sampling rates, sizes, channels, filter lengths,
padding) is recomputed from the constructor's arguments as NVIDIA's ``networks_stylegan3.py``
computes it (read, not copied), and the filters themselves come from the file (designed with
scipy only for random networks).

The functions are NVIDIA's with three changes that do not change them:

- the filtered leaky ReLU is its reference definition (bias, zero-insertion upsampling, FIR
  filter, gain, leaky ReLU, clamp, FIR filter, decimation) with transposed and strided
  depthwise convolutions (:func:`.ops.upfirdn2d`);
- the demodulated layers' style pre-normalisation divides each code's styles by their own
  root mean square; NVIDIA divides by the batch's (an fp16 safeguard that demodulation
  cancels, except in its ``+ 1e-8``), which would make a code's image depend on the other
  codes in its batch;
- the Fourier features are ``sin(2 pi [freqs | phases] [M (x, y, 1); 1])``, the same sum
  NVIDIA forms as ``grid @ freqs' + phases'``, with the constants placed where ``vmap(jvp)``
  runs no Python decomposition (see :mod:`.ops`).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import ops
from .mapping import FullyConnectedLayer, randn


def design_lowpass_filter(numtaps: int, cutoff: float, width: float, fs: float, radial: bool = False):
    """NVIDIA's Kaiser low-pass filter (separable ``firwin``, or radially symmetric jinc): None for one tap."""
    if numtaps == 1:
        return None
    import scipy.signal
    if not radial:
        return torch.as_tensor(scipy.signal.firwin(numtaps=numtaps, cutoff=cutoff, width=width, fs=fs),
                               dtype=torch.float32, device="cpu")
    import scipy.special
    x = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
    r = np.hypot(*np.meshgrid(x, x))
    f = scipy.special.j1(2 * cutoff * (np.pi * r)) / (np.pi * r)
    beta = scipy.signal.kaiser_beta(scipy.signal.kaiser_atten(numtaps, width / (fs / 2)))
    w = np.kaiser(numtaps, beta)
    f = f * np.outer(w, w)
    return torch.as_tensor(f / np.sum(f), dtype=torch.float32, device="cpu")


class SynthesisInput(nn.Module):
    """Fourier features rotated and translated by ``affine(w)`` and the user ``transform``, then a linear map.

    Buffers ``freqs`` (C, 2), ``phases`` (C,), ``transform`` (3, 3); parameters ``weight`` (C, C), ``affine``.
    """

    ATTRIBUTES = ("w_dim", "channels", "size", "sampling_rate", "bandwidth")

    def __init__(self, *, w_dim: int, channels: int, size: int, sampling_rate: float, bandwidth: float,
                 generator: torch.Generator | None = None):
        super().__init__()
        self.w_dim, self.channels = int(w_dim), int(channels)
        self.size = [int(size), int(size)]
        self.sampling_rate, self.bandwidth = float(sampling_rate), float(bandwidth)
        freqs = randn((channels, 2), generator)
        radii = freqs.square().sum(dim=1, keepdim=True).sqrt()
        freqs = freqs / (radii * radii.square().exp().pow(0.25)) * bandwidth
        phases = torch.rand(channels, generator=generator, device="cpu") - 0.5
        self.weight = nn.Parameter(randn((channels, channels), generator))
        self.affine = FullyConnectedLayer(w_dim, 4, weight_init=0, bias_init=[1, 0, 0, 0], generator=generator)
        self.register_buffer("transform", torch.eye(3, device="cpu"))
        self.register_buffer("freqs", freqs)
        self.register_buffer("phases", phases)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        """w (B, w_dim) -> features (B, channels, size, size)."""
        B, dt, dev = w.shape[0], w.dtype, w.device
        t = self.affine(w)  # (r_c, r_s, t_x, t_y)
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        c, s, tx, ty = t.unbind(1)
        # the first two rows of m_r @ m_t (inverse rotation, then inverse translation), then the user's transform
        rows = torch.stack([c, -s, s * ty - c * tx, s, c, -(s * tx) - c * ty], dim=1).reshape(B, 2, 3)
        m = rows @ self.transform.to(dt)  # (B, 2, 3)
        freqs = self.freqs.to(dt) @ m[:, :, :2]  # (B, C, 2)
        # amplitudes clamp(1 - (|f| - bw) / (sr/2 - bw), 0, 1) = clamp(lerp(start, |f|, -beta), 0, 1)
        beta = 1.0 / (self.sampling_rate / 2 - self.bandwidth)
        start = torch.tensor((1 + self.bandwidth * beta) / (1 + beta), device=dev, dtype=dt)
        amplitudes = torch.lerp(start, freqs.norm(dim=2), -beta).clamp(0, 1)  # (B, C)
        W, H = self.size
        theta = torch.tensor([[0.5 * W / self.sampling_rate, 0, 0], [0, 0.5 * H / self.sampling_rate, 0]], device=dev,
                             dtype=dt)
        grid = F.affine_grid(theta[None], [1, 1, H, W], align_corners=False).reshape(H * W, 2).T  # (2, HW): x, y
        points = m @ torch.cat([grid, torch.ones((1, H * W), device=dev, dtype=dt)])  # (B, 2, HW)
        points = torch.cat([points, torch.ones((1, 1, H * W), device=dev, dtype=dt).expand(B, 1, H * W)], dim=1)
        angles = torch.cat([self.freqs, self.phases[:, None]], dim=1).to(dt) * (2 * math.pi)  # (C, 3)
        x = torch.sin(angles @ points) * amplitudes[:, :, None]  # (B, C, HW)
        x = (self.weight.to(dt) / math.sqrt(self.channels)) @ x
        return x.reshape(B, self.channels, H, W)


class SynthesisLayer(nn.Module):
    """Modulated convolution and filtered leaky ReLU (up, lrelu, clamp, down), or the final toRGB.

    Parameters and buffers: ``affine``, ``weight`` (out, in, k, k), ``bias`` (out,),
    ``magnitude_ema`` (), ``up_filter`` and ``down_filter`` (1-D separable, 2-D radial, or None).
    """

    ATTRIBUTES = ("w_dim", "is_torgb", "in_channels", "out_channels", "in_size", "out_size", "in_sampling_rate",
                  "out_sampling_rate", "tmp_sampling_rate", "in_cutoff", "out_cutoff", "in_half_width",
                  "out_half_width", "conv_kernel", "conv_clamp", "up_factor", "up_taps", "down_factor", "down_taps",
                  "down_radial", "padding")

    def __init__(self, *, w_dim: int, is_torgb: bool, is_critically_sampled: bool, in_channels: int,
                 out_channels: int, in_size: int, out_size: int, in_sampling_rate: float, out_sampling_rate: float,
                 in_cutoff: float, out_cutoff: float, in_half_width: float, out_half_width: float,
                 conv_kernel: int = 3, filter_size: int = 6, lrelu_upsampling: int = 2,
                 use_radial_filters: bool = False, conv_clamp: float | None = 256, design_filters: bool = False,
                 generator: torch.Generator | None = None):
        super().__init__()
        self.w_dim, self.is_torgb = int(w_dim), bool(is_torgb)
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.in_size, self.out_size = [int(in_size)] * 2, [int(out_size)] * 2
        self.in_sampling_rate, self.out_sampling_rate = in_sampling_rate, out_sampling_rate
        self.tmp_sampling_rate = max(in_sampling_rate, out_sampling_rate) * (1 if is_torgb else lrelu_upsampling)
        self.in_cutoff, self.out_cutoff = float(in_cutoff), float(out_cutoff)
        self.in_half_width, self.out_half_width = float(in_half_width), float(out_half_width)
        self.conv_kernel = 1 if is_torgb else int(conv_kernel)
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1, generator=generator)
        self.weight = nn.Parameter(randn((out_channels, in_channels, self.conv_kernel, self.conv_kernel), generator))
        self.bias = nn.Parameter(torch.zeros(out_channels, device="cpu"))
        self.register_buffer("magnitude_ema", torch.ones((), device="cpu"))
        self.up_factor = int(np.rint(self.tmp_sampling_rate / in_sampling_rate))
        self.up_taps = filter_size * self.up_factor if self.up_factor > 1 and not is_torgb else 1
        self.down_factor = int(np.rint(self.tmp_sampling_rate / out_sampling_rate))
        self.down_taps = filter_size * self.down_factor if self.down_factor > 1 and not is_torgb else 1
        self.down_radial = bool(use_radial_filters and not is_critically_sampled)
        for name, taps, cutoff, width, radial in (("up_filter", self.up_taps, in_cutoff, in_half_width * 2, False),
                                                  ("down_filter", self.down_taps, out_cutoff, out_half_width * 2,
                                                   self.down_radial)):
            if design_filters:
                f = design_lowpass_filter(taps, cutoff, width, self.tmp_sampling_rate, radial)
            else:  # a placeholder of the right shape: the file's filter replaces it
                f = None if taps == 1 else torch.zeros((taps, taps) if radial else (taps,), device="cpu")
            self.register_buffer(name, f)
        pad_total = (out_size - 1) * self.down_factor + 1  # the output size before downsampling
        pad_total -= (in_size + self.conv_kernel - 1) * self.up_factor  # the input size after upsampling
        pad_total += self.up_taps + self.down_taps - 2  # what the filters take off
        pad_lo = (pad_total + self.up_factor) // 2  # NVIDIA's symmetric sample positions (Appendix C.3)
        self.padding = [int(pad_lo), int(pad_total - pad_lo)] * 2

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """x (B, in, in_size, in_size), w (B, w_dim) -> (B, out, out_size, out_size)."""
        dt = w.dtype
        weight = self.weight.to(dt)
        input_gain = self.magnitude_ema.to(dt).rsqrt()
        if self.is_torgb:  # no demodulation; NVIDIA scales the styles by 1/sqrt(in k^2): the same as the weight
            styles = self.affine(w)
            gain = input_gain / math.sqrt(self.in_channels * self.conv_kernel ** 2)
            y = F.conv2d(x * styles[:, :, None, None], weight * gain, self.bias.to(dt), padding=self.conv_kernel - 1)
            if any(self.padding):
                y = ops.upfirdn2d(y, None, padding=self.padding)
            return y if self.conv_clamp is None else y.clamp(-self.conv_clamp, self.conv_clamp)
        if x.dtype == torch.float32:  # channels last: float32 depthwise filters run 2-3x faster (float64 slower)
            x = x.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)
        styles = self.affine(w)
        weight = weight * weight.square().mean([1, 2, 3], keepdim=True).rsqrt()
        styles = styles * ops.mean_square(styles, 0.0).rsqrt()  # per code (NVIDIA: per batch; see the docstring)
        gain = math.sqrt(2)
        y = F.conv2d(x * styles[:, :, None, None], weight * (input_gain * 2 * gain), padding=self.conv_kernel - 1)
        y = ops.add_to_doubled(y * ops.demodulation(styles, weight)[:, :, None, None],
                               (self.bias.to(dt) * gain)[:, None, None])
        up = None if self.up_filter is None else self.up_filter.to(dt)
        y = ops.upfirdn2d(y, up, up=self.up_factor, padding=self.padding, gain=self.up_factor ** 2)
        y = F.leaky_relu(y, 0.2)
        if self.conv_clamp is not None:
            y = y.clamp(-self.conv_clamp, self.conv_clamp)
        down = None if self.down_filter is None else self.down_filter.to(dt)
        return ops.upfirdn2d(y, down, down=self.down_factor)


class SynthesisNetwork(nn.Module):
    """Styles (B, num_ws, w_dim) -> images: ``input``, ``num_layers`` layers and toRGB, times ``output_scale``.

    Args: NVIDIA's (``channel_base``, ``channel_max``, ``num_layers``, ``num_critical``,
    ``first_cutoff``, ``first_stopband``, ``last_stopband_rel``, ``margin_size``,
    ``output_scale``) and the layers' (``conv_kernel``, ``filter_size``, ``lrelu_upsampling``,
    ``use_radial_filters``, ``conv_clamp``).
    """

    ATTRIBUTES = ("w_dim", "num_ws", "img_resolution", "img_channels", "num_layers", "num_critical", "margin_size",
                  "output_scale", "layer_names")

    def __init__(self, *, w_dim: int, img_resolution: int, img_channels: int, channel_base: int = 32768,
                 channel_max: int = 512, num_layers: int = 14, num_critical: int = 2, first_cutoff: float = 2,
                 first_stopband: float = 2 ** 2.1, last_stopband_rel: float = 2 ** 0.3, margin_size: int = 10,
                 output_scale: float = 0.25, design_filters: bool = False, generator: torch.Generator | None = None,
                 **layer_kwargs):
        super().__init__()
        self.w_dim, self.num_ws = int(w_dim), num_layers + 2
        self.img_resolution, self.img_channels = int(img_resolution), int(img_channels)
        self.num_layers, self.num_critical, self.margin_size = int(num_layers), int(num_critical), int(margin_size)
        self.output_scale = output_scale
        last_cutoff = img_resolution / 2
        last_stopband = last_cutoff * last_stopband_rel
        exponents = np.minimum(np.arange(num_layers + 1) / (num_layers - num_critical), 1)
        cutoffs = first_cutoff * (last_cutoff / first_cutoff) ** exponents
        stopbands = first_stopband * (last_stopband / first_stopband) ** exponents
        rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, img_resolution))))
        half_widths = np.maximum(stopbands, rates / 2) - cutoffs
        sizes = rates + margin_size * 2
        sizes[-2:] = img_resolution
        channels = np.rint(np.minimum((channel_base / 2) / cutoffs, channel_max))
        channels[-1] = img_channels
        self.input = SynthesisInput(w_dim=w_dim, channels=int(channels[0]), size=int(sizes[0]),
                                    sampling_rate=rates[0], bandwidth=cutoffs[0], generator=generator)
        self.layer_names = []
        for idx in range(num_layers + 1):
            prev = max(idx - 1, 0)
            layer = SynthesisLayer(w_dim=w_dim, is_torgb=idx == num_layers, is_critically_sampled=idx >= num_layers
                                   - num_critical, in_channels=int(channels[prev]), out_channels=int(channels[idx]),
                                   in_size=int(sizes[prev]), out_size=int(sizes[idx]),
                                   in_sampling_rate=int(rates[prev]), out_sampling_rate=int(rates[idx]),
                                   in_cutoff=cutoffs[prev], out_cutoff=cutoffs[idx], in_half_width=half_widths[prev],
                                   out_half_width=half_widths[idx], design_filters=design_filters,
                                   generator=generator, **layer_kwargs)
            name = f"L{idx}_{layer.out_size[0]}_{layer.out_channels}"
            setattr(self, name, layer)
            self.layer_names.append(name)

    def forward(self, ws: torch.Tensor, **_) -> torch.Tensor:
        """ws (B, num_ws, w_dim) -> (B, img_channels, res, res); ``noise_mode`` is accepted, unused, as in NVIDIA's."""
        x = self.input(ws[:, 0])
        for i, name in enumerate(self.layer_names):
            x = getattr(self, name)(x, ws[:, i + 1])
        if self.output_scale != 1:  # x * scale, written as lerp(0, x, scale): no decomposition under vmap(jvp)
            x = torch.lerp(torch.zeros((), device=x.device, dtype=x.dtype), x, float(self.output_scale))
        return x

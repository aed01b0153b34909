"""How an image becomes the model's input: the percentile stretch, the scale, standardisation and padding.

Twin of `core/image/normalize.ts` (`percentileLut`, `modelInput`): numpy 'linear' percentiles, torch bilinear
resizing with align_corners=False, standardisation, zero padding. The two must stay in step: the model only
ever saw inputs made this way.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def percentile_normalize(pixels: np.ndarray, input_cfg: dict) -> np.ndarray:
    """Robust stretch to [0, 1] by the image's own percentiles: exposure differs between plates."""
    values = pixels.astype(np.float32)
    # Python floats: under NumPy 2's promotion rules float64 scalars would turn the image into float64.
    low, high = (float(v) for v in np.percentile(values, [input_cfg["percentile_low"], input_cfg["percentile_high"]]))
    span = max(float(high - low), 1.0)
    return np.clip((values - low) / span, 0.0, 1.0)


def standardize_unit(unit: torch.Tensor, input_cfg: dict) -> torch.Tensor:
    """[H, W] in [0, 1] -> standardised [H, W]."""
    return (unit - input_cfg["mean"]) / input_cfg["std"]


def standardize(unit: torch.Tensor, input_cfg: dict) -> torch.Tensor:
    """[H, W] in [0, 1] -> the model's [3, H, W] input (one grey channel, repeated)."""
    return standardize_unit(unit, input_cfg).unsqueeze(0).expand(3, -1, -1).contiguous()


def model_input(pixels: np.ndarray, input_cfg: dict) -> torch.Tensor:
    """uint8 [H, W] -> the padded, scaled, standardised [3, H', W'] tensor the ONNX member takes."""
    unit = torch.from_numpy(percentile_normalize(pixels, input_cfg))
    height, width = unit.shape
    scaled_size = (round(height * input_cfg["scale"]), round(width * input_cfg["scale"]))
    scaled = F.interpolate(unit[None, None], size=scaled_size, mode="bilinear", align_corners=False)[0, 0]
    divisor = input_cfg["size_divisor"]
    pad_h = (-scaled_size[0]) % divisor
    pad_w = (-scaled_size[1]) % divisor
    image = standardize(scaled, input_cfg)
    # Padding is zero after standardisation, as torchvision's batching pads.
    return F.pad(image, (0, pad_w, 0, pad_h))

import math

import numpy as np
import torch

from cellseg_train.binary_mask import InstanceMask
from cellseg_train.config import apply_overrides, load_config
from cellseg_train.crops import TrainingCrops
from cellseg_train.data import AnnotatedImage
from cellseg_train.model import build_model
from cellseg_train.train import train_step


def synthetic_image(rng: np.random.Generator) -> AnnotatedImage:
    """Bright discs on a noisy background, each disc an annotated cell."""
    pixels = rng.normal(80, 10, size=(96, 128))
    cells = []
    yy, xx = np.mgrid[-6:7, -6:7]
    disc = yy**2 + xx**2 <= 36
    for _ in range(12):
        y0, x0 = int(rng.integers(0, 96 - 13)), int(rng.integers(0, 128 - 13))
        pixels[y0 : y0 + 13, x0 : x0 + 13][disc] = 200
        cells.append(InstanceMask(y0, x0, disc.copy()))
    return AnnotatedImage("synthetic", "cort", np.clip(pixels, 0, 255).astype(np.uint8), cells)


def test_a_few_steps_on_a_tiny_image_give_a_finite_loss_and_move_the_weights():
    # Prepare: the real architecture, small crops, a few proposals.
    torch.manual_seed(0)
    opts = ["train.crop=96", "train.batch_size=1", "train.rpn_pre_nms_top_n=200", "train.rpn_post_nms_top_n=100"]
    opts += ["train.rpn_batch_size_per_image=64", "train.box_batch_size_per_image=64"]
    config = apply_overrides(load_config(None), opts)
    crops = TrainingCrops([synthetic_image(np.random.default_rng(0))], config, seed=0)
    model = build_model(config)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=0.01, momentum=0.9)
    before = [p.detach().clone() for p in params]

    # Act
    losses = [
        train_step(model, optimizer, params, [crops.sample()], torch.device("cpu"), config["train"], False)
        for _ in range(3)
    ]

    # Assess
    assert all(math.isfinite(loss.item()) for loss, _ in losses)
    assert set(losses[0][1]) >= {"loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness", "loss_rpn_box_reg"}
    moved = [not torch.equal(a, b) for a, b in zip(before, params)]
    assert sum(moved) > 0.9 * len(params)

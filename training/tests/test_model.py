"""The detector graph's export-time rewrites compute what the trained modules compute."""
import copy

import pytest
import torch
from torch import nn
from torchvision.models.detection.image_list import ImageList

from cellseg_train.config import load_config
from cellseg_train.model import (
    GreyStemConv,
    PoolFirstStemTail,
    TopAnchorsFirstRPN,
    build_model,
    detector_backbone,
)


def trained_looking(model: nn.Module) -> nn.Module:
    """Random GroupNorm scales and shifts (a fresh model's are all 1 and 0), scales kept positive."""
    torch.manual_seed(1)
    for module in model.modules():
        if isinstance(module, nn.GroupNorm):
            nn.init.uniform_(module.weight, 0.5, 1.5)
            nn.init.normal_(module.bias, 0, 0.5)
    return model.eval()


@torch.no_grad()
def test_the_pool_first_stem_tail_equals_groupnorm_relu_maxpool():
    torch.manual_seed(0)
    norm = nn.GroupNorm(4, 8)
    nn.init.uniform_(norm.weight, 0.1, 2)
    nn.init.normal_(norm.bias)
    pool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
    maps = 3 * torch.randn(2, 8, 37, 50) + 1  # odd sizes: the pool's padded border
    expected = pool(torch.relu(norm(maps)))
    assert torch.allclose(PoolFirstStemTail(norm, pool)(maps), expected, atol=1e-5)


def test_the_pool_first_stem_tail_refuses_a_scale_that_is_not_positive():
    norm = nn.GroupNorm(4, 8)
    with torch.no_grad():
        norm.weight[3] = -0.5
    with pytest.raises(ValueError, match="positive"):
        PoolFirstStemTail(norm, nn.MaxPool2d(3, 2, 1))


@torch.no_grad()
def test_the_grey_stem_convolution_equals_the_stem_on_a_repeated_grey_channel():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 16, kernel_size=7, stride=2, padding=3, bias=False)
    grey = torch.randn(1, 1, 40, 56).expand(1, 3, 40, 56)
    assert torch.allclose(GreyStemConv(conv)(grey), conv(grey), atol=1e-5)


@torch.no_grad()
def test_the_detector_backbone_gives_the_backbones_features():
    model = trained_looking(build_model(load_config(None)))
    grey = torch.randn(1, 1, 128, 160).expand(1, 3, 128, 160)
    expected = model.backbone(grey)
    found = detector_backbone(model.backbone)(grey)
    assert isinstance(detector_backbone(model.backbone).body.bn1, PoolFirstStemTail)
    assert list(found) == list(expected)
    for level in expected:
        assert torch.allclose(found[level], expected[level], atol=1e-4)


@torch.no_grad()
def test_the_detector_backbone_keeps_the_plain_stem_order_when_a_scale_is_negative():
    model = trained_looking(build_model(load_config(None)))
    model.backbone.body.bn1.weight[0] = -1.0
    grey = torch.randn(1, 1, 96, 96).expand(1, 3, 96, 96)
    backbone = detector_backbone(model.backbone)
    assert isinstance(backbone.body.bn1, nn.GroupNorm)
    assert torch.allclose(backbone(grey)["0"], model.backbone(grey)["0"], atol=1e-4)


@torch.no_grad()
def test_proposals_decoded_after_the_top_k_are_torchvisions_proposals():
    config = load_config(None)
    config["model"]["rpn_pre_nms_top_n_test"] = 200  # fewer than the finest level's anchors: the top-k selects
    model = trained_looking(build_model(config))
    image = torch.randn(1, 3, 128, 160)
    features = model.backbone(image)
    images = ImageList(image, [(128, 160)])
    expected, _ = model.rpn(images, features)
    found = TopAnchorsFirstRPN(copy.deepcopy(model.rpn))(images, features)
    assert len(expected[0]) > 50
    assert torch.equal(found[0], expected[0])

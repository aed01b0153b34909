"""The Mask R-CNN members: a GroupNorm ResNet-FPN built from scratch (no pretrained weights exist here)."""
from __future__ import annotations

import copy
from typing import Dict, List, Tuple

import torch
from torch import nn
from torch.nn import functional
from torchvision.models import resnet
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection import _utils as detection_utils
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.rpn import RegionProposalNetwork, concat_box_prediction_layers
from torchvision.models.detection.transform import GeneralizedRCNNTransform
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool, LastLevelP6P7

BACKBONES = {"resnet18": (resnet.resnet18, 64), "resnet34": (resnet.resnet34, 64), "resnet50": (resnet.resnet50, 256)}


class PadOnlyTransform(GeneralizedRCNNTransform):
    """Batches images by padding only: the data pipeline already scaled and normalised them.

    torchvision's transform would resize every image to 800 px and renormalise it; the exported model must
    see exactly what the TypeScript runtime feeds it, so training does the same.
    """

    def normalize(self, image: torch.Tensor) -> torch.Tensor:
        return image

    def resize(self, image, target=None):
        return image, target


def build_model(config: dict) -> MaskRCNN:
    cfg, train = config["model"], config["train"]
    groups = cfg["group_norm_groups"]

    def group_norm(channels: int) -> nn.Module:
        return nn.GroupNorm(min(groups, channels), channels)

    make_resnet, width = BACKBONES[cfg["backbone"]]
    trunk = make_resnet(weights=None, norm_layer=group_norm)
    expansion = 4 if cfg["backbone"] == "resnet50" else 1
    stages = cfg["trunk_stages"]
    channels = cfg["fpn_channels"]
    # Without layer4 (stride 32, most of a ResNet's weights) two conv levels restore the 5 anchor levels:
    # the member stays under the 16 MiB a GPU-run file may have, and cells rarely need stride-32 context.
    extra = LastLevelMaxPool() if stages == 4 else LastLevelP6P7(channels, channels)
    backbone = BackboneWithFPN(
        trunk,
        return_layers={f"layer{i + 1}": str(i) for i in range(stages)},
        in_channels_list=[width * expansion * 2**i for i in range(stages)],
        out_channels=channels,
        extra_blocks=extra,
        norm_layer=group_norm,
    )
    anchors = AnchorGenerator(
        sizes=anchor_sizes_per_level(cfg["anchor_sizes"]),
        aspect_ratios=(tuple(cfg["aspect_ratios"]),) * len(cfg["anchor_sizes"]),
    )
    num_classes = len(config["classes"]) + 1  # + background
    mask_width = cfg["mask_head_layers"][-1]
    model = MaskRCNN(
        backbone,
        rpn_anchor_generator=anchors,
        rpn_pre_nms_top_n_train=train["rpn_pre_nms_top_n"],
        rpn_post_nms_top_n_train=train["rpn_post_nms_top_n"],
        rpn_pre_nms_top_n_test=cfg["rpn_pre_nms_top_n_test"],
        rpn_post_nms_top_n_test=cfg["rpn_post_nms_top_n_test"],
        rpn_batch_size_per_image=train["rpn_batch_size_per_image"],
        box_head=TwoMLPHead(channels * 7 * 7, cfg["box_head_dim"]),
        box_predictor=FastRCNNPredictor(cfg["box_head_dim"], num_classes),
        box_detections_per_img=cfg["detections_per_img"],
        box_score_thresh=cfg["box_score_thresh"],
        box_nms_thresh=cfg["box_nms_thresh"],
        box_batch_size_per_image=train["box_batch_size_per_image"],
        mask_head=MaskRCNNHeads(channels, cfg["mask_head_layers"], 1, norm_layer=group_norm),
        mask_predictor=MaskRCNNPredictor(mask_width, mask_width, num_classes),
    )
    inp = config["input"]
    model.transform = PadOnlyTransform(1, 1, [0.0] * 3, [1.0] * 3, size_divisible=inp["size_divisor"])
    return model


def anchor_sizes_per_level(sizes: list) -> Tuple[Tuple[int, ...], ...]:
    """`[8, 16]` (one size per level, the starter's form) or `[[12, 17], [24, 34]]` (several per level)."""
    return tuple(tuple(s) if isinstance(s, (list, tuple)) else (s,) for s in sizes)


def box_frame_detections(model: MaskRCNN, batch: torch.Tensor) -> List[Dict[str, torch.Tensor]]:
    """Detections of a padded [B, 3, H, W] batch, masks left in their box frame ([N, 1, M, M])."""
    image_sizes: List[Tuple[int, int]] = [(batch.shape[-2], batch.shape[-1])] * batch.shape[0]
    features: Dict[str, torch.Tensor] = model.backbone(batch)
    images = ImageList(batch, image_sizes)
    proposals, _ = model.rpn(images, features)
    detections, _ = model.roi_heads(features, proposals, image_sizes)
    return detections


class BoxFrameMaskRCNN(nn.Module):
    """The ONNX contract: one [3, H, W] image -> boxes, scores, labels and [N, 1, M, M] box-frame masks.

    It skips torchvision's postprocess, which pastes every mask into a full-size map (~150 MB per image).
    H and W must already be multiples of the size divisor (the runtime pads).
    """

    def __init__(self, model: MaskRCNN):
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        found = box_frame_detections(self.model, image.unsqueeze(0))[0]
        return found["boxes"], found["scores"], found["labels"], found["masks"]


class PoolFirstStemTail(nn.Module):
    """The stem's GroupNorm -> ReLU -> MaxPool, max-pooled first: with every per-channel scale positive,
    GroupNorm's affine map and ReLU are monotone in each channel, so they commute with the max-pool and run on a
    quarter of the pixels. GroupNorm's statistics still come from the whole map, as two global averages (of the
    values and of their squares) that the CPU runtime computes in its blocked layout; the plain order spent a
    fifth of the int8 detector's time in this full-resolution normalisation and its layout reorders."""

    def __init__(self, norm: nn.GroupNorm, pool: nn.MaxPool2d):
        super().__init__()
        if not self.fits(norm):
            raise ValueError("the pool-first stem needs positive GroupNorm scales")
        self.norm = norm
        self.pool = pool

    @staticmethod
    def fits(norm: nn.GroupNorm) -> bool:
        """Whether the reordering keeps the values: every scale positive."""
        return bool((norm.weight > 0).all())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Static sizes: reading the map's shape would make the runtime reorder the whole map to plain layout.
        channels, groups = self.norm.num_channels, self.norm.num_groups

        def per_channel_of_group(channel_means: torch.Tensor) -> torch.Tensor:
            grouped = channel_means.reshape(-1, groups, channels // groups).mean(2, keepdim=True)
            return grouped.expand(-1, -1, channels // groups).reshape(-1, channels, 1, 1)

        mean = per_channel_of_group(functional.adaptive_avg_pool2d(x, 1))
        variance = per_channel_of_group(functional.adaptive_avg_pool2d(x * x, 1)) - mean * mean
        scale = self.norm.weight.reshape(1, channels, 1, 1) / torch.sqrt(variance + self.norm.eps)
        shift = self.norm.bias.reshape(1, channels, 1, 1) - scale * mean
        return torch.relu(self.pool(x) * scale + shift)


class GreyStemConv(nn.Module):
    """The stem convolution of a grey image: the model's three input channels are one grey channel repeated
    (model-container/README.md, "The model"), so convolving that one channel with the sum of the three channels'
    kernels gives the same map for a third of the work."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        self.conv = nn.Conv2d(
            1, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, bias=conv.bias is not None
        )
        with torch.no_grad():
            self.conv.weight.copy_(conv.weight.sum(1, keepdim=True))
            if conv.bias is not None:
                self.conv.bias.copy_(conv.bias)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.conv(image[:, :1])


def detector_backbone(backbone: nn.Module) -> nn.Module:
    """A copy of `backbone` with the stem the exported detector computes: same values, less work on a CPU
    (GreyStemConv; PoolFirstStemTail when every GroupNorm scale of the stem is positive)."""
    fast = copy.deepcopy(backbone)
    body = fast.body
    body.conv1 = GreyStemConv(body.conv1)
    if PoolFirstStemTail.fits(body.bn1):
        body.bn1 = PoolFirstStemTail(body.bn1, body.maxpool)
        body.relu = nn.Identity()
        body.maxpool = nn.Identity()
    return fast


class TopAnchorsFirstRPN(nn.Module):
    """torchvision's region proposal network at inference, one image, decoding only the anchors its per-level
    top-k keeps: the same proposals, while torchvision decodes every anchor's box first (over half a million at
    the finest level), which took about a tenth of the int8 detector's time."""

    def __init__(self, rpn: RegionProposalNetwork):
        super().__init__()
        self.rpn = rpn

    def forward(self, images: ImageList, features: Dict[str, torch.Tensor]) -> List[torch.Tensor]:
        rpn = self.rpn
        levels = list(features.values())
        objectness, deltas = rpn.head(levels)
        anchors = rpn.anchor_generator(images, levels)
        per_level = [o[0].shape[0] * o[0].shape[1] * o[0].shape[2] for o in objectness]
        objectness, deltas = concat_box_prediction_layers(objectness, deltas)
        scores = objectness.detach().reshape(1, -1)
        top = rpn._get_top_n_idx(scores, per_level)[0]
        kept = [detection_utils._topk_min(level, rpn.pre_nms_top_n(), 1) for level in scores.split(per_level, 1)]
        proposals = rpn.box_coder.decode(deltas.detach()[top], [anchors[0][top]]).view(1, -1, 4)
        boxes, _ = rpn.filter_proposals(proposals, scores[:, top], images.image_sizes, kept)
        return boxes


class DetectorGraph(nn.Module):
    """The first exported graph: one [3, H, W] image -> boxes, scores, labels and the FPN levels the mask
    head pools from (`mask_feature_names`), so that the runtime computes masks only for the detections it
    keeps (the mask head is a fifth of the model's time, and most detections fall below the score threshold).
    """

    def __init__(self, model: MaskRCNN):
        super().__init__()
        self.model = model
        self.backbone = detector_backbone(model.backbone)
        self.rpn = TopAnchorsFirstRPN(model.rpn)

    def forward(self, image: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        batch = image.unsqueeze(0)
        image_sizes: List[Tuple[int, int]] = [(batch.shape[-2], batch.shape[-1])]
        features: Dict[str, torch.Tensor] = self.backbone(batch)
        proposals = self.rpn(ImageList(batch, image_sizes), features)
        heads = self.model.roi_heads
        box_features = heads.box_head(heads.box_roi_pool(features, proposals, image_sizes))
        class_logits, box_regression = heads.box_predictor(box_features)
        boxes, scores, labels = heads.postprocess_detections(class_logits, box_regression, proposals, image_sizes)
        levels = [features[name] for name in pooled_levels(self.model)]
        return (boxes[0], scores[0], labels[0], *levels)


class MaskHeadGraph(nn.Module):
    """The second exported graph: the detector's FPN levels, boxes [K, 4] and labels [K] -> [K, 1, M, M]
    box-frame mask probabilities of each box's class; what `BoxFrameMaskRCNN` computes for the same boxes
    (the mask head works on each box alone: RoIAlign, convolutions, per-box GroupNorm)."""

    def __init__(self, model: MaskRCNN, image_size: Tuple[int, int]):
        super().__init__()
        self.model = model
        # The pooler infers each level's stride from the feature and image sizes: fixed by the architecture.
        self.image_size = image_size

    def forward(self, boxes: torch.Tensor, labels: torch.Tensor, *levels: torch.Tensor) -> torch.Tensor:
        heads = self.model.roi_heads
        features = dict(zip(pooled_levels(self.model), levels))
        pooled = heads.mask_roi_pool(features, [boxes], [self.image_size])
        logits = heads.mask_predictor(heads.mask_head(pooled))
        return logits[torch.arange(logits.shape[0]), labels].sigmoid()[:, None]


def pooled_levels(model: MaskRCNN) -> List[str]:
    """The FPN levels the mask head pools from: those of its pooler's names the backbone has (no '3' without layer4)."""
    present = set(model.backbone.body.return_layers.values())
    return [name for name in model.roi_heads.mask_roi_pool.featmap_names if name in present]


def mask_feature_names(model: MaskRCNN) -> List[str]:
    """The exported names of the FPN levels the detector hands to the mask head."""
    return [f"features_{name}" for name in pooled_levels(model)]

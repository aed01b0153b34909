import torch
from torchvision.ops import poolers

from cellseg_train.config import load_config
from cellseg_train.export import merge_levels_by_gather
from cellseg_train.model import BoxFrameMaskRCNN, DetectorGraph, MaskHeadGraph, build_model


def test_the_gather_merge_of_pyramid_levels_equals_torchvisions_scatter():
    torch.manual_seed(0)
    levels = torch.tensor([2, 0, 1, 0, 2, 2, 1, 0])
    unmerged = [torch.randn(int((levels == level).sum()), 3, 2, 2) for level in range(3)]
    assert torch.equal(merge_levels_by_gather(levels, unmerged), poolers._onnx_merge_levels(levels, unmerged))


@torch.no_grad()
def test_detector_and_mask_head_give_what_the_whole_model_gives():
    torch.manual_seed(0)
    config = load_config(None)
    config["model"]["rpn_post_nms_top_n_test"] = 100
    model = build_model(config).eval()
    image = torch.randn(1, 128, 160).expand(3, -1, -1)  # grey, as the runtime feeds it (the stem relies on it)
    boxes, scores, labels, masks = BoxFrameMaskRCNN(model)(image)
    found = DetectorGraph(model)(image)
    picked = torch.arange(0, len(scores), 2)  # a subset: each box's mask does not depend on the others
    split_masks = MaskHeadGraph(model, (128, 160))(found[0][picked], found[2][picked], *found[3:])
    assert len(scores) > 0
    # The detector's stem is rewritten (same values up to float rounding: test_model.py).
    assert torch.allclose(found[0], boxes, atol=1e-3) and torch.allclose(found[1], scores, atol=1e-5)
    assert torch.equal(found[2], labels)
    assert torch.allclose(split_masks, masks[picked], atol=1e-3)

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cellseg_train.config import load_config
from cellseg_train.binary_mask import InstanceMask
from cellseg_train.crops import TrainingCrops, boxes_from_pixel_indices, dense_masks, orient, resized_cell
from cellseg_train.data import AnnotatedImage


def dense_reference(inst: InstanceMask, y0: int, x0: int, window: int, size: int) -> np.ndarray:
    """The cell pasted into a full window and resized: resized_cell thresholds these values at 0.5."""
    canvas = np.zeros((window, window), dtype=np.float32)
    h, w = inst.mask.shape
    top, left = max(inst.y0, y0), max(inst.x0, x0)
    bottom, right = min(inst.y0 + h, y0 + window), min(inst.x0 + w, x0 + window)
    if bottom > top and right > left:
        canvas[top - y0 : bottom - y0, left - x0 : right - x0] = inst.mask[
            top - inst.y0 : bottom - inst.y0, left - inst.x0 : right - inst.x0
        ]
    return F.interpolate(torch.from_numpy(canvas)[None, None], size=(size, size), mode="bilinear", align_corners=False)[
        0, 0
    ].numpy()


def random_cell(rng: np.random.Generator, extent: int) -> InstanceMask:
    h, w = rng.integers(1, 60, size=2)
    mask = rng.random((h, w)) < 0.7
    mask[h // 2, w // 2] = True
    return InstanceMask(int(rng.integers(-20, extent)), int(rng.integers(-20, extent)), mask)


@pytest.mark.parametrize("size", [96, 160, 257])
def test_resized_cell_equals_resizing_the_whole_window(size):
    """Cells resized over their own box, as resizing a mask of the whole window would give them."""
    rng = np.random.default_rng(size)
    for _ in range(300):
        window = int(rng.integers(40, 200))
        cell = random_cell(rng, window)
        cell = InstanceMask(max(cell.y0, 0), max(cell.x0, 0), cell.mask)  # annotations start inside the image
        y0, x0 = int(rng.integers(0, 40)), int(rng.integers(0, 40))
        got = np.zeros(size * size, dtype=bool)
        got[resized_cell(cell, y0, x0, window, size)] = True
        values = dense_reference(cell, y0, x0, window, size).flatten()
        # Equal but where a value is a tie at 0.5 (torch may fuse a multiply-add and round differently).
        differ = got != (values >= 0.5)
        assert np.all(np.abs(values[differ] - 0.5) < 1e-5)


@pytest.mark.parametrize("turns", range(4))
@pytest.mark.parametrize("mirror", [False, True])
def test_pixel_indices_follow_the_image_through_turns_and_flips(turns, mirror):
    size = 12
    mask = torch.zeros(size, size, dtype=torch.uint8)
    mask[2:5, 3:9] = 1
    mask[7, 1] = 1
    moved_to = orient(torch.arange(size * size).view(size, size), turns, mirror)
    new_index = torch.empty(size * size, dtype=torch.int64)
    new_index[moved_to.flatten()] = torch.arange(size * size)
    moved = dense_masks(new_index[mask.flatten().nonzero()[:, 0]], 1, size)[0]
    assert torch.equal(moved, orient(mask, turns, mirror))


def test_boxes_are_the_cells_extent_exclusive():
    size = 10
    cells = [torch.tensor([2 * size + 3, 4 * size + 7]), torch.tensor([0])]
    assert boxes_from_pixel_indices(cells, size).tolist() == [[3, 2, 8, 5], [0, 0, 1, 1]]
    assert boxes_from_pixel_indices([], size).shape == (0, 4)


def test_training_crops_hold_consistent_targets():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, size=(120, 160), dtype=np.uint8)
    cells = [random_cell(rng, 100) for _ in range(40)]
    cells = [
        InstanceMask(max(c.y0, 0), max(c.x0, 0), c.mask[: 120 - max(c.y0, 0), : 160 - max(c.x0, 0)]) for c in cells
    ]
    config = load_config(None)
    config["train"]["crop"] = 96
    crops = TrainingCrops([AnnotatedImage("synthetic", "cort", pixels, cells)], config, seed=1)
    for _ in range(10):
        image, target = crops.sample()
        n = len(target["labels"])
        assert image.shape == (1, 96, 96) and image.dtype == torch.float32
        masks = dense_masks(target["mask_pixels"], n, 96)
        assert (masks.flatten(1).sum(1) >= 4).all()
        assert torch.equal(boxes_from_pixel_indices([m.flatten().nonzero()[:, 0] for m in masks], 96), target["boxes"])
        assert (target["labels"] == config["classes"].index("cort") + 1).all()

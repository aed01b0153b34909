import numpy as np

from cellseg_train.binary_mask import InstanceMask
from cellseg_train.competition_metric import image_score
from cellseg_train.data import AnnotatedImage
from cellseg_train.detections import RawPrediction
from cellseg_train.evaluate import resolve, thresholded_score
from cellseg_train.fusion import fuse
from cellseg_train.instances import resolve_instances
from cellseg_train.tune import tune_thresholds

CLASSES = ["shsy5y", "astro", "cort"]


def prediction(boxes, scores, label):
    n = len(boxes)
    return RawPrediction(
        np.asarray(boxes, np.float32).reshape(n, 4),
        np.asarray(scores, np.float32),
        np.full(n, label),
        np.ones((n, 28, 28), np.float32),
    )


def truth(cell_type, boxes, size=64):
    cells = [InstanceMask(y0, x0, np.ones((y1 - y0, x1 - x0), bool)) for x0, y0, x1, y1 in boxes]
    return AnnotatedImage("t", cell_type, np.zeros((size, size), np.uint8), cells)


def test_a_cell_keeping_too_little_of_its_mask_is_dropped_and_takes_nothing():
    pred = prediction([[0, 0, 20, 20], [10, 0, 24, 20], [20, 0, 40, 20]], [0.9, 0.8, 0.7], 1)
    image = truth("shsy5y", [[0, 0, 20, 20], [20, 0, 40, 20]])
    kept = resolve(pred, image, 0.5, 0.0, min_kept_fraction=0.5)
    everything = resolve(pred, image, 0.5, 0.0)
    assert list(kept.scores) == [np.float32(0.9), np.float32(0.7)]
    assert len(everything.scores) == 3
    assert kept.areas[1] > everything.areas[2]
    assert thresholded_score(kept, 0.0, 0) > thresholded_score(everything, 0.0, 0)


def test_scoring_a_label_map_equals_scoring_its_masks():
    pred = prediction([[0, 0, 20, 20], [10, 0, 24, 20], [20, 0, 40, 20], [5, 30, 30, 60]], [0.9, 0.8, 0.7, 0.6], 1)
    image = truth("shsy5y", [[0, 0, 20, 20], [19, 0, 40, 21], [6, 32, 28, 58], [50, 50, 60, 60]])
    resolved = resolve(pred, image, 0.5, 0.0)
    owner = resolve_instances(pred, 64, 64, 0.5, 0.0).owner
    masks = [InstanceMask(0, 0, owner == k) for k in range(len(resolved.scores))]
    assert thresholded_score(resolved, 0.0, 0) == image_score(masks, image.instances)
    assert 0 < thresholded_score(resolved, 0.0, 0) < 1


def test_fusion_merges_two_views_of_a_cell():
    a = prediction([[0, 0, 12, 12]], [0.9], 3)
    b = prediction([[2, 0, 14, 12]], [0.7], 3)
    assert len(fuse([(a, 1.0), (b, 1.0)], 0.55).scores) == 1
    assert len(fuse([(a, 1.0), (b, 1.0)], 0.9).scores) == 2


def test_tuning_pulls_a_type_with_few_images_towards_the_pooled_optimum():
    images = [truth("cort", [[0, 0, 10, 10]]) for _ in range(3)] + [truth("shsy5y", [[0, 0, 10, 10]])]
    for i, im in enumerate(images):
        im.image_id = f"i{i}"
    predictions = {f"i{i}": prediction([[0, 0, 10, 10]], [0.3], 3) for i in range(3)}
    predictions["i3"] = prediction([[0, 0, 10, 10], [30, 30, 40, 40]], [0.9, 0.3], 1)
    grid = dict(mask_thresholds=(0.5,), min_kept_fractions=(0.0,), area_grid=(0,))
    alone = tune_thresholds(predictions, images, CLASSES, pooled_weight=0, **grid)
    pooled = tune_thresholds(predictions, images, CLASSES, **grid)
    assert alone["score_thresholds"]["shsy5y"] > 0.3
    assert pooled["score_thresholds"]["shsy5y"] <= 0.3

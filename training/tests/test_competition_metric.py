import json
from pathlib import Path

import numpy as np
import pytest

from cellseg_train.binary_mask import InstanceMask
from cellseg_train.competition_metric import IOU_THRESHOLDS, image_score, score_from_overlaps
from cellseg_train.kaggle_rle import decode_kaggle_rle, encode_kaggle_rle

# Shared with test/unit/core/metric/competition-fixture.test.ts: the scores are the TypeScript metric's.
FIXTURE = json.loads(
    (Path(__file__).resolve().parents[2] / "test" / "fixtures" / "competition-metric.json").read_text()
)
CASES = FIXTURE["cases"]


def masks(rles, case):
    return [decode_kaggle_rle(rle, case["height"], case["width"]) for rle in rles]


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_scores_what_the_typescript_metric_scores(case):
    assert image_score(masks(case["pred"], case), masks(case["truth"], case)) == pytest.approx(case["score"], abs=1e-9)


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_the_fixtures_rle_is_canonical_here_too(case):
    for rle in case["truth"] + case["pred"]:
        assert (
            encode_kaggle_rle(decode_kaggle_rle(rle, case["height"], case["width"]), case["height"], case["width"])
            == rle
        )


def test_the_fixture_spans_the_score_range():
    scores = [case["score"] for case in CASES]
    assert min(scores) == 0 and max(scores) == 1 and any(0.05 < s < 0.95 and s not in (0.5,) for s in scores)


def test_thresholds_are_exact_decimals():
    assert IOU_THRESHOLDS == (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


def test_one_to_one_matches_need_no_greedy_pass():
    # Two disjoint pairs at IoU 0.8 and 0.55: 2 matches at 0.5, 1 from 0.55 to 0.75, none above.
    intersections = np.array([[80, 0], [0, 55]])
    score = score_from_overlaps(intersections, np.array([90, 60]), np.array([90, 95]))
    expected = (2 / 2 + 1 / 3 * 5 + 0) / 10
    assert score == pytest.approx(expected, abs=1e-12)


def test_a_prediction_overlapping_two_truths_matches_the_better_one():
    square = InstanceMask(0, 0, np.ones((10, 10), bool))
    shifted = InstanceMask(0, 1, np.ones((10, 10), bool))
    # IoU 100/110 with the first truth, 90/110 with the second: one true positive, one miss.
    prediction = InstanceMask(0, 0, np.ones((10, 11), bool))
    assert image_score([prediction], [square, shifted]) == pytest.approx((1 / 2 * 9 + 0) / 10)

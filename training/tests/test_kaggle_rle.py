import numpy as np
import pytest

from cellseg_train.binary_mask import InstanceMask
from cellseg_train.kaggle_rle import KaggleRleError, decode_kaggle_rle, encode_kaggle_rle

# The first annotation of the Sartorius train.csv (image 0030fd0e6378, shsy5y, 704 x 520), as Kaggle wrote it.
KAGGLE_ANNOTATION = (
    "100655 8 101355 12 102059 13 102763 13 103468 12 104172 12 104876 13 105580 13 106285 12 106989 12 "
    "107694 11 108398 11 109103 10 109808 9 110513 7 111217 7 111922 6 112627 5 113332 4 114036 4 114741 2"
)


def test_kaggle_rle_is_row_major_and_one_indexed():
    inst = decode_kaggle_rle("12 3 22 2", height=5, width=10)
    assert (inst.y0, inst.x0) == (1, 1)
    assert inst.mask.tolist() == [[True, True, True], [True, True, False]]


def test_a_known_kaggle_annotation_decodes_to_its_cell_and_encodes_back():
    cell = decode_kaggle_rle(KAGGLE_ANNOTATION, height=520, width=704)
    numbers = [int(n) for n in KAGGLE_ANNOTATION.split()]
    assert cell.area == sum(numbers[1::2])
    first_pixel = numbers[0] - 1
    assert (cell.y0, cell.x0 + int(np.argmax(cell.mask[0]))) == divmod(first_pixel, 704)
    assert cell.mask.shape[0] == len(numbers) // 2  # one run per row here
    assert encode_kaggle_rle(cell, height=520, width=704) == KAGGLE_ANNOTATION


def test_the_typescript_examples():
    # core/masks/kaggle-rle.ts: pixels 3, 4 and 9 of a 4 x 4 image; runs in any order on the way in.
    cell = decode_kaggle_rle("10 1 4 2", height=4, width=4)
    full = np.zeros((4, 4), bool)
    full[cell.y0 : cell.y0 + cell.mask.shape[0], cell.x0 : cell.x0 + cell.mask.shape[1]] = cell.mask
    assert np.flatnonzero(full).tolist() == [3, 4, 9]
    assert encode_kaggle_rle(cell, height=4, width=4) == "4 2 10 1"


@pytest.mark.parametrize("seed", range(20))
def test_random_masks_round_trip(seed):
    rng = np.random.default_rng(seed)
    height, width = (int(v) for v in rng.integers(1, 40, size=2))
    full = rng.random((height, width)) < rng.random()
    full[rng.integers(height), rng.integers(width)] = True
    ys, xs = np.nonzero(full)
    cell = InstanceMask(int(ys.min()), int(xs.min()), full[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1])
    back = decode_kaggle_rle(encode_kaggle_rle(cell, height, width), height, width)
    assert (back.y0, back.x0) == (cell.y0, cell.x0) and np.array_equal(back.mask, cell.mask)


def test_a_run_across_a_row_boundary_stays_one_run():
    full = np.zeros((3, 4), bool)
    full.ravel()[2:7] = True
    ys, xs = np.nonzero(full)
    cell = InstanceMask(0, 0, full[: ys.max() + 1])
    assert encode_kaggle_rle(cell, 3, 4) == "3 5"


def test_the_empty_string_is_the_empty_mask():
    assert decode_kaggle_rle("  ", 5, 5).area == 0
    assert encode_kaggle_rle(InstanceMask(0, 0, np.zeros((0, 0), bool)), 5, 5) == ""


@pytest.mark.parametrize(
    "rle, problem",
    [
        ("1 2 3", "odd number of values"),
        ("1 2 x 4", 'value 3 is "x"'),
        ("1 -2", 'value 2 is "-2"'),
        ("5 0", "run 1 .* zero length"),
        ("0 1", "run 1 .* outside the 4x3 image"),
        ("1 2 11 3", r"run 2 \(start 11, length 3\) lies outside the 4x3 image \(pixels 1..12\)"),
    ],
)
def test_malformed_strings_are_refused_as_typescript_refuses_them(rle, problem):
    with pytest.raises(KaggleRleError, match=problem):
        decode_kaggle_rle(rle, height=3, width=4)

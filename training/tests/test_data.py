import csv
import gzip
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cellseg_train.config import DEFAULTS, load_config
from cellseg_train.data import annotated_ids_by_type, load_annotated, load_or_create_split, stratified_split
from cellseg_train.kaggle_rle import KaggleRleError

HEIGHT, WIDTH = 6, 8
# (id, cell type, annotations); an image with no annotations is unlabelled (images.csv says so).
IMAGES = [
    ("b0", "cort", ["2 3 10 2", "41 4"]),
    ("a1", "cort", ["17 1"]),
    ("c2", "cort", ["1 1"]),
    ("d3", "shsy5y", ["9 8"]),
    ("e4", "shsy5y", ["30 2", ""]),
    ("f5", "astro", []),
]


def write_sartorius(root: Path, rows=None, gz: bool = False) -> Path:
    images = root / "train" / "images"
    images.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for image_id, _, _ in IMAGES:
        pixels = rng.integers(0, 255, size=(HEIGHT, WIDTH), dtype=np.uint8)
        Image.fromarray(pixels).save(images / f"{image_id}{'.jpg' if gz else '.png'}")
    with open(root / "train" / "images.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "cell_type", "annotated"])
        for image_id, cell_type, annotations in IMAGES:
            writer.writerow([image_id, cell_type, "1" if annotations else "0"])
    rows = rows or [(i, rle, WIDTH, HEIGHT, t) for i, t, annotations in IMAGES for rle in annotations]
    name = root / "train" / ("train.csv.gz" if gz else "train.csv")
    with gzip.open(name, "wt", newline="") if gz else open(name, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "annotation", "width", "height", "cell_type"])
        writer.writerows(rows)
    return root


def test_annotations_become_each_images_cells(tmp_path):
    images = load_annotated(write_sartorius(tmp_path))
    assert [(im.image_id, im.cell_type) for im in images] == [
        ("a1", "cort"),
        ("b0", "cort"),
        ("c2", "cort"),
        ("d3", "shsy5y"),
        ("e4", "shsy5y"),
    ]
    b0 = images[1]
    assert b0.pixels.shape == (HEIGHT, WIDTH) and b0.pixels.dtype == np.uint8
    first, second = b0.instances
    # "2 3 10 2": pixels 1-3 of row 0 and 1-2 of row 1 (1-indexed starts, row-major over 8 columns).
    assert (first.y0, first.x0, first.mask.tolist()) == (0, 1, [[True, True, True], [True, True, False]])
    assert (second.y0, second.x0, second.area) == (5, 0, 4)
    assert len(images[4].instances) == 1  # an empty annotation is no cell


def test_only_the_wanted_images_are_read(tmp_path):
    images = load_annotated(write_sartorius(tmp_path), ids=["d3", "a1", "zz"])
    assert [im.image_id for im in images] == ["a1", "d3"]


def test_the_packed_layout_reads_the_same_cells(tmp_path):
    original = load_annotated(write_sartorius(tmp_path / "original"))
    packed = load_annotated(write_sartorius(tmp_path / "packed", gz=True), layout="packed")
    assert [len(im.instances) for im in packed] == [len(im.instances) for im in original]
    for a, b in zip(original, packed):
        assert all(
            np.array_equal(x.mask, y.mask) and (x.y0, x.x0) == (y.y0, y.x0) for x, y in zip(a.instances, b.instances)
        )


def test_a_malformed_annotation_names_its_file_line_and_image(tmp_path):
    rows = [("a1", "17 1", WIDTH, HEIGHT, "cort"), ("b0", "47 5", WIDTH, HEIGHT, "cort")]
    root = write_sartorius(tmp_path, rows)
    with pytest.raises(
        KaggleRleError, match=r"train.csv line 3 \(image b0\): Kaggle RLE run 1 .* outside the 8x6 image"
    ):
        load_annotated(root)


def test_annotated_images_by_type_leave_out_the_unlabelled(tmp_path):
    by_type = annotated_ids_by_type(write_sartorius(tmp_path))
    assert by_type == {"cort": ["a1", "b0", "c2"], "shsy5y": ["d3", "e4"]}


def test_the_split_holds_out_every_type_alike_and_is_reproducible(tmp_path):
    root = write_sartorius(tmp_path)
    train, val = stratified_split(root, val_fraction=0.34, seed=0)
    assert sorted(train + val) == ["a1", "b0", "c2", "d3", "e4"] and not set(train) & set(val)
    assert sum(i in val for i in ("a1", "b0", "c2")) == 1 and sum(i in val for i in ("d3", "e4")) == 1
    assert stratified_split(root, val_fraction=0.34, seed=0) == (train, val)


def test_a_committed_split_is_kept_and_a_missing_one_written(tmp_path):
    config = load_config(None)
    config["data"].update(root=str(write_sartorius(tmp_path)), val_split_file=str(tmp_path / "splits" / "val.txt"))
    train, val = load_or_create_split(config)
    assert (tmp_path / "splits" / "val.txt").read_text().split() == val
    (tmp_path / "splits" / "val.txt").write_text("e4\nb0\n")
    assert load_or_create_split(config) == (["a1", "c2", "d3"], ["b0", "e4"])


SARTORIUS = Path(DEFAULTS["data"]["root"])


@pytest.mark.skipif(not (SARTORIUS / "train" / "images.csv").exists(), reason="no Sartorius data here")
def test_the_committed_split_holds_annotated_images_of_every_type():
    by_type = annotated_ids_by_type(SARTORIUS)
    val = Path(DEFAULTS["data"]["val_split_file"]).read_text().split()
    held_out = {t: sum(i in val for i in ids) for t, ids in by_type.items()}
    assert set(held_out) == {"shsy5y", "astro", "cort"} and all(n > 0 for n in held_out.values())
    assert sum(held_out.values()) == len(val) == len(set(val))

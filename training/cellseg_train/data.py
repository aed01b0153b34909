"""The Sartorius training data: the images and their Kaggle CSV annotations (the training format that
core/kaggle/csv.ts reads), and the stratified validation split. Training crops are made in crops.py."""
from __future__ import annotations

import csv
import gzip
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np
from PIL import Image

from .binary_mask import InstanceMask
from .kaggle_rle import KaggleRleError, decode_kaggle_rle


@dataclass(frozen=True)
class Layout:
    """Where a data root keeps its files: the Sartorius original, or what `pack.py` writes for the GPU run."""

    images: str
    suffix: str
    annotations: str  # Kaggle CSV, gzipped when the name ends in .gz
    index: str  # images.csv: id, cell_type, annotated


LAYOUTS = {
    "sartorius": Layout("train/images", ".png", "train/train.csv", "train/images.csv"),
    "packed": Layout("train/images", ".jpg", "train/train.csv.gz", "train/images.csv"),
}


@dataclass
class AnnotatedImage:
    image_id: str
    cell_type: str
    pixels: np.ndarray  # uint8 [H, W]
    instances: List[InstanceMask] = field(default_factory=list)


def read_image(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("L"), dtype=np.uint8)


def open_text(path: Path):
    return gzip.open(path, "rt", newline="") if path.suffix == ".gz" else open(path, newline="")


def load_annotated(
    root: str | Path, ids: Sequence[str] | None = None, layout: str = "sartorius"
) -> List[AnnotatedImage]:
    """Images with complete masks from the annotations CSV, optionally limited to `ids`."""
    root, files = Path(root), LAYOUTS[layout]
    wanted = set(ids) if ids is not None else None
    by_id: Dict[str, AnnotatedImage] = {}
    path = root / files.annotations
    with open_text(path) as handle:
        rows = csv.DictReader(handle)
        for row in rows:
            image_id = row["id"]
            if wanted is not None and image_id not in wanted:
                continue
            try:
                cell = decode_kaggle_rle(row["annotation"], int(row["height"]), int(row["width"]))
            except KaggleRleError as error:
                raise KaggleRleError(f"{path} line {rows.line_num} (image {image_id}): {error}") from None
            if image_id not in by_id:
                pixels = read_image(root / files.images / f"{image_id}{files.suffix}")
                by_id[image_id] = AnnotatedImage(image_id, row["cell_type"], pixels)
            if cell.area > 0:  # an empty annotation is no cell
                by_id[image_id].instances.append(cell)
    return [by_id[i] for i in sorted(by_id)]


def annotated_ids_by_type(root: str | Path, layout: str = "sartorius") -> Dict[str, List[str]]:
    by_type: Dict[str, List[str]] = {}
    with open(Path(root) / LAYOUTS[layout].index, newline="") as handle:
        for row in csv.DictReader(handle):
            if row["annotated"] == "1":
                by_type.setdefault(row["cell_type"], []).append(row["id"])
    return {k: sorted(v) for k, v in sorted(by_type.items())}


def stratified_split(
    root: str | Path, val_fraction: float, seed: int, layout: str = "sartorius"
) -> Tuple[List[str], List[str]]:
    """(train ids, validation ids): the same fraction of every cell type is held out."""
    rng = random.Random(seed)
    train, val = [], []
    for ids in annotated_ids_by_type(root, layout).values():
        shuffled = ids[:]
        rng.shuffle(shuffled)
        n_val = max(1, round(len(shuffled) * val_fraction))
        val += shuffled[:n_val]
        train += shuffled[n_val:]
    return sorted(train), sorted(val)


def load_or_create_split(config: dict) -> Tuple[List[str], List[str]]:
    """The committed validation split when present (so every tool scores the same images), else a new one."""
    data = config["data"]
    split_file = Path(data["val_split_file"])
    all_ids = sorted(i for ids in annotated_ids_by_type(data["root"], data["layout"]).values() for i in ids)
    if split_file.exists():
        val = sorted(line.strip() for line in split_file.read_text().splitlines() if line.strip())
    else:
        _, val = stratified_split(data["root"], data["val_fraction"], data["split_seed"], data["layout"])
        split_file.parent.mkdir(parents=True, exist_ok=True)
        split_file.write_text("\n".join(val) + "\n")
    held_out = set(val)
    return [i for i in all_ids if i not in held_out], val

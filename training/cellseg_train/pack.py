"""Pack the training data small enough to travel to the GPU machine with the code (64 MiB in all).

    /usr/bin/python3 -m cellseg_train.pack --data ../../shared/data/sartorius --out packed

Writes the `packed` data layout (see data.LAYOUTS): the annotated images as 8-bit grayscale JPEG (PNG is
~3x larger), `train.csv` gzipped (lossless, so the masks are exactly the original ones), `images.csv`
limited to the packed images, the public test PNGs unchanged (export records PyTorch's parity outputs on
one, and the Node parity test reads that same PNG), and `pack.json` with counts, bytes and the JPEG error.
The 164 unlabelled images are left out: the one-shot GPU run has no use for them (no pseudo-labelling).
The output folder is gitignored: the data must never enter the repository's tracked files.
"""
from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from .data import LAYOUTS, read_image

MIB = 1 << 20


def encode_jpeg(pixels: np.ndarray, quality: int) -> bytes:
    buffer = io.BytesIO()
    # optimize: Huffman tables fitted per image, a few % smaller at identical pixels.
    Image.fromarray(pixels, mode="L").save(buffer, "JPEG", quality=quality, optimize=True)
    return buffer.getvalue()


def pack(data: Path, out: Path, quality: int) -> dict:
    source, packed = LAYOUTS["sartorius"], LAYOUTS["packed"]
    with open(data / source.index, newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["annotated"] == "1"]
    (out / packed.images).mkdir(parents=True, exist_ok=True)
    errors = []
    for row in rows:
        pixels = read_image(data / source.images / f"{row['id']}{source.suffix}")
        encoded = encode_jpeg(pixels, quality)
        (out / packed.images / f"{row['id']}{packed.suffix}").write_bytes(encoded)
        decoded = np.asarray(Image.open(io.BytesIO(encoded)).convert("L"), dtype=np.int16)
        errors.append(np.abs(decoded - pixels.astype(np.int16)).mean())
    with open(out / packed.index, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with open(data / source.annotations, "rb") as raw, gzip.open(
        out / packed.annotations, "wb", compresslevel=9
    ) as zipped:
        shutil.copyfileobj(raw, zipped)
    shutil.copytree(data / "test", out / "test", dirs_exist_ok=True)

    files = [p for p in out.rglob("*") if p.is_file() and p.name != "pack.json"]
    summary = {
        "images": len(rows),
        "jpeg_quality": quality,
        "jpeg_mean_abs_error": round(float(np.mean(errors)), 3),
        "jpeg_max_mean_abs_error": round(float(np.max(errors)), 3),
        "image_mib": round(sum(p.stat().st_size for p in (out / packed.images).iterdir()) / MIB, 2),
        "annotations_mib": round((out / packed.annotations).stat().st_size / MIB, 2),
        "total_mib": round(sum(p.stat().st_size for p in files) / MIB, 2),
    }
    (out / "pack.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="the Sartorius folder (train/, test/)")
    parser.add_argument("--out", required=True, help="packed folder to write (gitignored)")
    parser.add_argument("--quality", type=int, default=90, help="JPEG quality")
    args = parser.parse_args()
    print(json.dumps(pack(Path(args.data), Path(args.out), args.quality), indent=2))


if __name__ == "__main__":
    main()

import { describe, expect, it } from "vitest";
import { maskFromPixelIndices } from "../../../../core/masks/binary-mask";
import { decodeCocoRle } from "../../../../core/masks/coco-rle";
import { cocoDocument } from "../../../../core/outputs/coco-json";
import type { BinaryMask, CellType, Instance } from "../../../../core/types";

function instance(cellType: CellType, score: number, mask: BinaryMask): Instance {
  // The detector's box is deliberately not the mask's: the document must take the mask's.
  return { cellType, score, box: [0, 0, 4, 4], mask, area: 99 };
}

describe("cocoDocument", () => {
  // 4 x 3 image; pixels (1, 0), (2, 0), (1, 1): box x 1..2, y 0..1.
  const first = maskFromPixelIndices([1, 2, 5], 4, 3);
  const second = maskFromPixelIndices([11], 4, 3);
  const image = (id: string, instances: Instance[]) => ({ id, fileName: `${id}.png`, width: 4, height: 3, instances });
  const document = cocoDocument([
    image("img-a", [instance("cort", 0.9, first), instance("cort", 0.4, second)]),
    image("img-b", []),
    image("img-c", [instance("astro", 0.7, second)]),
  ]);

  it("lists the images and the three cell types with 1-based ids", () => {
    expect(document.images).toEqual([
      { id: "img-a", file_name: "img-a.png", width: 4, height: 3 },
      { id: "img-b", file_name: "img-b.png", width: 4, height: 3 },
      { id: "img-c", file_name: "img-c.png", width: 4, height: 3 },
    ]);
    expect(document.categories).toEqual([
      { id: 1, name: "shsy5y" },
      { id: 2, name: "astro" },
      { id: 3, name: "cort" },
    ]);
  });

  it("numbers the annotations across images and takes area and box from the mask", () => {
    expect(document.annotations.map(({ segmentation, ...rest }) => rest)).toEqual([
      { id: 1, image_id: "img-a", category_id: 3, area: 3, bbox: [1, 0, 2, 2], score: 0.9, iscrowd: 0 },
      { id: 2, image_id: "img-a", category_id: 3, area: 1, bbox: [3, 2, 1, 1], score: 0.4, iscrowd: 0 },
      { id: 3, image_id: "img-c", category_id: 2, area: 1, bbox: [3, 2, 1, 1], score: 0.7, iscrowd: 0 },
    ]);
  });

  it("stores each mask as a compressed COCO RLE that decodes back to it", () => {
    // Act
    const [segmentation] = document.annotations.map((annotation) => annotation.segmentation);

    // Assess: column-major 0 0 0 | 1 1 0 | 1 0 0 | 0 0 0, counts [3, 2, 1, 1, 5]; the last two are stored
    // as differences to the count two before: 1 - 2 = -1 ("O") and 5 - 1 = 4.
    expect(segmentation).toEqual({ size: [3, 4], counts: "321O4" });
    expect(decodeCocoRle(segmentation)).toEqual(first);
  });

  it("serialises to plain JSON", () => {
    expect(JSON.parse(JSON.stringify(document))).toEqual(document);
  });
});

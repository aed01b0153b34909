/**
 * Segmentation results as a COCO JSON document: the image list, the categories and scored RLE annotations,
 * loadable by pycocotools (`COCO` or `loadRes`) and detectron2.
 */
import { encodeCocoRle } from "../masks/coco-rle";
import { maskArea, maskBox } from "../masks/binary-mask";
import { CELL_TYPES, type CellType, type Instance } from "../types";

export interface CocoImage {
  /** The Kaggle image id: COCO tools take any id, and keeping it avoids a lookup table. */
  id: string;
  file_name: string;
  width: number;
  height: number;
}

export interface CocoCategory {
  id: number;
  name: CellType;
}

export interface CocoAnnotation {
  id: number;
  image_id: string;
  category_id: number;
  segmentation: { size: [height: number, width: number]; counts: string };
  area: number;
  /** x, y, width, height of the mask's tight box, as pycocotools' `toBbox` computes it. */
  bbox: [x: number, y: number, width: number, height: number];
  score: number;
  iscrowd: 0;
}

export interface CocoDocument {
  images: CocoImage[];
  categories: CocoCategory[];
  annotations: CocoAnnotation[];
}

/** The images to put in a {@link cocoDocument}, with their post-processed instances. */
export interface CocoSourceImage {
  readonly id: string;
  readonly fileName: string;
  readonly width: number;
  readonly height: number;
  readonly instances: readonly Instance[];
}

/**
 * A COCO results document. Category ids are 1-based in {@link CELL_TYPES} order (the model's class ids);
 * annotation ids run from 1 over all images. Area and box come from the mask, so they agree with the
 * segmentation whatever the detector's box was.
 *
 * @example
 * const image = { id: "0030fd0e6378", fileName: "0030fd0e6378.png", width: 704, height: 520, instances };
 * await writeFile("0030fd0e6378.coco.json", JSON.stringify(cocoDocument([image])));
 */
export function cocoDocument(images: readonly CocoSourceImage[]): CocoDocument {
  let nextId = 1;
  return {
    images: images.map(({ id, fileName, width, height }) => ({ id, file_name: fileName, width, height })),
    categories: CELL_TYPES.map((name, i) => ({ id: i + 1, name })),
    annotations: images.flatMap((image) =>
      image.instances.map(({ mask, cellType, score }): CocoAnnotation => {
        const [x1, y1, x2, y2] = maskBox(mask);
        return {
          id: nextId++,
          image_id: image.id,
          category_id: CELL_TYPES.indexOf(cellType) + 1,
          segmentation: encodeCocoRle(mask),
          area: maskArea(mask),
          bbox: [x1, y1, x2 - x1, y2 - y1],
          score,
          iscrowd: 0,
        };
      }),
    ),
  };
}

import type { Detections } from "../../../../core/types";

/** Detections with uniform box-frame masks of probability `maskValue`. */
export function detections(
  items: { box: [number, number, number, number]; score: number; label: number; maskValue?: number }[],
  maskSize = 4,
): Detections {
  const area = maskSize * maskSize;
  const masks = new Float32Array(items.length * area);
  for (const [i, item] of items.entries()) masks.fill(item.maskValue ?? 0.9, i * area, (i + 1) * area);
  return {
    boxes: Float32Array.from(items.flatMap((i) => i.box)),
    scores: Float32Array.from(items.map((i) => i.score)),
    labels: Int32Array.from(items.map((i) => i.label)),
    masks,
    maskSize,
  };
}

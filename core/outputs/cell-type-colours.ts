/**
 * The cell types' display colours, shared by the overlay PNG and the web console (a module of its own so
 * that the browser bundle takes the colours without the image libraries).
 */
import type { CellType } from "../types";

/** One colour per cell type, from the Okabe-Ito palette, which colour-blind viewers can tell apart. */
export const CELL_TYPE_COLOURS = {
  shsy5y: [230, 159, 0], // orange
  astro: [86, 180, 233], // sky blue
  cort: [204, 121, 167], // reddish purple
} as const satisfies Record<CellType, readonly [number, number, number]>;

/**
 * The colour square that names a cell type in the job panel and the result viewer: the colour the viewer draws
 * that type's cells in.
 */
import type { CellType } from "../../../core/types";
import { cellTypeColour } from "../cell-layers";

export function CellTypeSwatch({ cellType }: { cellType: CellType }) {
  return <span class="swatch" style={{ background: cellTypeColour(cellType) }} aria-hidden="true" />;
}

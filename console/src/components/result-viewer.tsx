/**
 * One image's result: the image with its cells drawn over it (outlines, fills, both or neither), zoom
 * (wheel, buttons, + and -) and pan (drag, Shift+arrows) at any size, the cell under the pointer (or
 * clicked) with its type, score and measurements, counts per type, the image's downloads, and the job's
 * other images with ← and →.
 *
 * The image drawn is the service's preview of the upload (8-bit, contrast-stretched as the overlay: any format
 * and depth, TIFF and 16-bit too, and the same after a reload); for a run of a version that made none, the
 * file this page uploaded when the browser can show it (PNG, JPEG), else the overlay PNG, outlines baked in.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import type { JobImage } from "../../../core/schemas/api";
import type { InstancesDocument, ResultInstance } from "../../../core/schemas/job-documents";
import { CELL_TYPES } from "../../../core/types";
import { RESULT_DESCRIPTIONS, type ApiClient } from "../api-client";
import { cellLayers, type CellLayers } from "../cell-layers";
import { measurementsByCell } from "../measurements";
import { CellTypeSwatch } from "./cell-type-swatch";
import { DownloadButton } from "./download-button";

interface Background {
  readonly bitmap: ImageBitmap;
  /** The service's overlay (its outlines baked in), not the image alone. */
  readonly isOverlay: boolean;
}

interface Loaded {
  readonly layers: CellLayers;
  readonly background: Background;
  readonly measurements?: Map<number, [string, string][]>;
}

interface ViewTransform {
  readonly scale: number;
  readonly x: number;
  readonly y: number;
}

const ZOOM_STEP = 1.25;
const PAN_STEP = 50;
const MAX_SCALE = 32;

export interface ResultViewerProps {
  readonly api: ApiClient;
  readonly image: JobImage;
  readonly localFile: File | undefined;
  readonly position: { readonly index: number; readonly count: number };
  readonly onMove: (step: -1 | 1) => void;
  readonly onClose: () => void;
}

export function ResultViewer({ api, image, localFile, position, onMove, onClose }: ResultViewerProps) {
  const [loaded, setLoaded] = useState<Loaded>();
  const [error, setError] = useState<string>();
  const [outlines, setOutlines] = useState(true);
  const [fill, setFill] = useState(false);
  const [view, setView] = useState<ViewTransform>({ scale: 1, x: 0, y: 0 });
  const [hovered, setHovered] = useState<ResultInstance>();
  const [selected, setSelected] = useState<ResultInstance>();
  const canvas = useRef<HTMLCanvasElement>(null);
  const frame = useRef<HTMLDivElement>(null);
  const drag = useRef<{ x: number; y: number; moved: boolean }>();

  useEffect(() => {
    let cancelled = false;
    let shown: Loaded | undefined;
    setLoaded(undefined);
    setError(undefined);
    setHovered(undefined);
    setSelected(undefined);
    void load(api, image, localFile).then(
      (result) => {
        if (cancelled) return release(result);
        shown = result;
        setLoaded(result);
        setView(fitted(result.layers, frame.current));
      },
      (caught: unknown) => !cancelled && setError(caught instanceof Error ? caught.message : String(caught)),
    );
    return () => {
      cancelled = true;
      if (shown) release(shown);
    };
  }, [api, image.fileName]);

  // Draw whenever what is shown changes.
  useEffect(() => {
    const element = canvas.current;
    if (!element || !loaded) return;
    const ratio = window.devicePixelRatio || 1;
    const { clientWidth, clientHeight } = element;
    element.width = Math.round(clientWidth * ratio);
    element.height = Math.round(clientHeight * ratio);
    const context = element.getContext("2d")!;
    context.setTransform(1, 0, 0, 1, 0, 0);
    context.fillStyle = "#111";
    context.fillRect(0, 0, element.width, element.height);
    // Whole device pixels: at 100 % and above each image pixel covers whole screen pixels, none blurred or split.
    context.setTransform(
      ratio * view.scale,
      0,
      0,
      ratio * view.scale,
      Math.round(ratio * view.x),
      Math.round(ratio * view.y),
    );
    // Zoomed in, pixels stay pixels: a biologist judges a mask's edge pixel by pixel.
    context.imageSmoothingEnabled = view.scale < 1;
    // Zoomed out, a plate-sized image is averaged (not sampled: no moiré, no outline dropped at random).
    context.imageSmoothingQuality = "high";
    const { layers } = loaded;
    context.drawImage(loaded.background.bitmap, 0, 0, layers.width, layers.height);
    if (fill) context.drawImage(layers.fill, 0, 0);
    if (outlines) context.drawImage(layers.outline, 0, 0);
    // The selected cell's box solid, the hovered one's dashed.
    const marked: [ResultInstance | undefined, number[]][] = [
      [selected, []],
      [hovered !== selected ? hovered : undefined, [4 / view.scale, 3 / view.scale]],
    ];
    for (const [cell, dash] of marked) {
      if (!cell) continue;
      const [x1, y1, x2, y2] = cell.box;
      context.setLineDash(dash);
      context.lineWidth = 2 / view.scale;
      context.strokeStyle = "#fff";
      context.strokeRect(x1 - 1, y1 - 1, x2 - x1 + 2, y2 - y1 + 2);
    }
  }, [loaded, view, outlines, fill, hovered, selected]);

  // The wheel zooms about the pointer; the listener must be active (not passive) to keep the page still.
  useEffect(() => {
    const element = canvas.current;
    if (!element) return;
    const onWheel = (event: WheelEvent) => {
      event.preventDefault();
      const rect = element.getBoundingClientRect();
      setView((current) =>
        zoomedTo(
          current,
          current.scale * (event.deltaY < 0 ? ZOOM_STEP : 1 / ZOOM_STEP),
          event.clientX - rect.left,
          event.clientY - rect.top,
        ),
      );
    };
    element.addEventListener("wheel", onWheel, { passive: false });
    return () => element.removeEventListener("wheel", onWheel);
  }, [loaded]);

  const center = () => {
    const element = canvas.current;
    return element ? { x: element.clientWidth / 2, y: element.clientHeight / 2 } : { x: 0, y: 0 };
  };
  const zoom = (factor: number) =>
    setView((current) => zoomedTo(current, current.scale * factor, center().x, center().y));
  const actualPixels = () => setView((current) => zoomedTo(current, 1, center().x, center().y));

  // Keys work wherever the focus is, but in a text field or a dialog.
  const onKeyDown = (event: KeyboardEvent) => {
    const target = event.target as HTMLElement | null;
    if (
      event.altKey ||
      event.ctrlKey ||
      event.metaKey ||
      target?.closest("input[type=text], input[type=password], textarea, dialog")
    )
      return;
    const pan = {
      ArrowLeft: [PAN_STEP, 0],
      ArrowRight: [-PAN_STEP, 0],
      ArrowUp: [0, PAN_STEP],
      ArrowDown: [0, -PAN_STEP],
    }[event.key];
    if (pan && event.shiftKey) setView((current) => ({ ...current, x: current.x + pan[0]!, y: current.y + pan[1]! }));
    else if (event.key === "ArrowLeft") onMove(-1);
    else if (event.key === "ArrowRight") onMove(1);
    else if (event.key === "+" || event.key === "=") zoom(ZOOM_STEP);
    else if (event.key === "-") zoom(1 / ZOOM_STEP);
    else if (event.key === "0" && loaded) setView(fitted(loaded.layers, frame.current));
    else if (event.key === "1") actualPixels();
    else if (event.key === "o") setOutlines((on) => !on);
    else if (event.key === "f") setFill((on) => !on);
    else if (event.key === "Escape") selected ? setSelected(undefined) : onClose();
    else return;
    event.preventDefault();
  };

  const keys = useRef(onKeyDown);
  keys.current = onKeyDown;
  useEffect(() => {
    const listener = (event: KeyboardEvent) => keys.current(event);
    document.addEventListener("keydown", listener);
    return () => document.removeEventListener("keydown", listener);
  }, []);

  const imagePoint = (event: PointerEvent | MouseEvent) => {
    const rect = canvas.current!.getBoundingClientRect();
    return {
      x: (event.clientX - rect.left - view.x) / view.scale,
      y: (event.clientY - rect.top - view.y) / view.scale,
    };
  };

  const shown = selected ?? hovered;
  const counts = loaded?.layers.counts;
  return (
    <section class="viewer" aria-labelledby="viewer-title">
      <header class="viewer-header">
        <h3 id="viewer-title">
          {image.fileName}{" "}
          <span class="muted">
            ({position.index + 1} of {position.count})
          </span>
        </h3>
        <div class="buttons">
          <button type="button" onClick={() => onMove(-1)} aria-keyshortcuts="ArrowLeft" disabled={position.count < 2}>
            ← Previous
          </button>
          <button type="button" onClick={() => onMove(1)} aria-keyshortcuts="ArrowRight" disabled={position.count < 2}>
            Next →
          </button>
          <button type="button" onClick={onClose} aria-keyshortcuts="Escape">
            Close
          </button>
        </div>
      </header>
      <div class="toolbar" role="toolbar" aria-label="View">
        <label>
          <input
            type="checkbox"
            checked={outlines}
            onChange={(event) => setOutlines(event.currentTarget.checked)}
            aria-keyshortcuts="o"
          />{" "}
          Outlines
        </label>
        <label>
          <input
            type="checkbox"
            checked={fill}
            onChange={(event) => setFill(event.currentTarget.checked)}
            aria-keyshortcuts="f"
          />{" "}
          Fill
        </label>
        <button type="button" onClick={() => zoom(ZOOM_STEP)} aria-label="Zoom in" aria-keyshortcuts="+">
          +
        </button>
        <button type="button" onClick={() => zoom(1 / ZOOM_STEP)} aria-label="Zoom out" aria-keyshortcuts="-">
          −
        </button>
        <button
          type="button"
          onClick={() => loaded && setView(fitted(loaded.layers, frame.current))}
          aria-keyshortcuts="0"
        >
          Fit
        </button>
        <button type="button" onClick={actualPixels} aria-label="Actual pixels (100%)" aria-keyshortcuts="1">
          1:1
        </button>
        <span class="muted">{Math.round(view.scale * 100)}%</span>
        {counts && (
          <ul class="legend" aria-label="Cells per type" data-testid="type-counts">
            {CELL_TYPES.map((type) => (
              <li key={type} class="type-count">
                <CellTypeSwatch cellType={type} /> {type} {counts[type]}
              </li>
            ))}
          </ul>
        )}
      </div>
      <div class="viewer-body">
        <div class="canvas-frame" ref={frame}>
          {error ? (
            <p role="alert" class="error">
              {error}
            </p>
          ) : !loaded ? (
            <p class="muted">Loading the cells…</p>
          ) : null}
          <canvas
            ref={canvas}
            tabIndex={0}
            role="img"
            aria-label={
              `${image.fileName}: ${loaded ? `${loaded.layers.cells.length} cells` : "loading"}. Arrow keys: ` +
              "previous or next image; Shift+arrows: pan; + and -: zoom; 0: fit; 1: actual pixels; o: " +
              "outlines; f: fill."
            }
            data-testid="result-canvas"
            data-cells={loaded?.layers.cells.length}
            onPointerDown={(event) => {
              drag.current = { x: event.clientX, y: event.clientY, moved: false };
              canvas.current?.setPointerCapture(event.pointerId);
            }}
            onPointerMove={(event) => {
              const start = drag.current;
              if (start) {
                const dx = event.clientX - start.x;
                const dy = event.clientY - start.y;
                if (start.moved || Math.abs(dx) + Math.abs(dy) > 3) {
                  drag.current = { x: event.clientX, y: event.clientY, moved: true };
                  setView((current) => ({ ...current, x: current.x + dx, y: current.y + dy }));
                }
                return;
              }
              if (loaded) {
                const point = imagePoint(event);
                setHovered(loaded.layers.cellAt(point.x, point.y));
              }
            }}
            onPointerUp={(event) => {
              const wasDrag = drag.current?.moved;
              drag.current = undefined;
              if (!wasDrag && loaded) {
                const point = imagePoint(event);
                const cell = loaded.layers.cellAt(point.x, point.y);
                setSelected(cell === selected ? undefined : cell);
              }
            }}
            onPointerLeave={() => setHovered(undefined)}
          />
        </div>
        <aside class="cell-info" aria-live="polite" data-testid="cell-info">
          <h4>{selected ? "Selected cell" : "Cell under the pointer"}</h4>
          {shown ? (
            <dl>
              <dt>Cell</dt>
              <dd>#{shown.id}</dd>
              <dt>Type</dt>
              <dd>
                <CellTypeSwatch cellType={shown.cellType} /> {shown.cellType}
              </dd>
              <dt>Score</dt>
              <dd>{shown.score.toFixed(3)}</dd>
              <dt>Area</dt>
              <dd>{shown.area} px</dd>
              {(loaded?.measurements?.get(shown.id) ?? []).map(([name, value]) => (
                <>
                  <dt>{name}</dt>
                  <dd>{value}</dd>
                </>
              ))}
            </dl>
          ) : (
            <p class="muted">Point at a cell, or click one to keep it here.</p>
          )}
          {loaded?.background.isOverlay && (
            <p class="muted note">
              Shown on the service's overlay: the image was segmented by a version that made no preview of it.
            </p>
          )}
          <h4>Downloads</h4>
          <ul class="downloads">
            {Object.entries(image.results ?? {}).map(([format, path]) => (
              <li key={format}>
                <DownloadButton api={api} path={path} label={RESULT_DESCRIPTIONS[format] ?? format} />
              </li>
            ))}
          </ul>
        </aside>
      </div>
    </section>
  );
}

async function load(api: ApiClient, image: JobImage, localFile: File | undefined): Promise<Loaded> {
  // By name: measurements come from a newer service than the console may know the formats of.
  const results: Readonly<Record<string, string | undefined>> = image.results ?? {};
  const documentPromise = api
    .fetchResult(results.json!)
    .then((response) => response.json() as Promise<InstancesDocument>);
  const measurementsPromise = results.measurements
    ? api.fetchResult(results.measurements).then(async (response) => measurementsByCell(await response.text()))
    : Promise.resolve(undefined);
  const background = await backgroundOf(api, results, localFile);
  const layers = await cellLayers(await documentPromise);
  const measurements = await measurementsPromise.catch(() => undefined);
  return { layers, background, ...(measurements ? { measurements } : {}) };
}

/**
 * The service's preview of the image; for a run of a version that made none, this page's copy of the upload
 * if the browser can draw it, else the overlay.
 */
async function backgroundOf(
  api: ApiClient,
  results: Readonly<Record<string, string | undefined>>,
  localFile: File | undefined,
): Promise<Background> {
  const decoded = (blob: Promise<Blob>) => blob.then((bytes) => createImageBitmap(bytes)).catch(() => undefined);
  const preview = results.preview
    ? await decoded(api.fetchResult(results.preview).then((response) => response.blob()))
    : undefined;
  const bitmap = preview ?? (localFile ? await decoded(Promise.resolve(localFile)) : undefined);
  if (bitmap) return { bitmap, isOverlay: false };
  return { bitmap: await createImageBitmap(await (await api.fetchResult(results.overlay!)).blob()), isOverlay: true };
}

/**
 * Frees an image's bitmaps now rather than at some later garbage collection, which does not see their weight:
 * a plate-sized image holds hundreds of megabytes, and ← and → go through a job's images quickly.
 */
function release(loaded: Loaded): void {
  for (const bitmap of [loaded.background.bitmap, loaded.layers.outline, loaded.layers.fill]) bitmap.close();
}

/** The whole image in the frame, centred. */
function fitted(layers: CellLayers, frame: HTMLElement | null): ViewTransform {
  const width = frame?.clientWidth || layers.width;
  const height = frame?.clientHeight || layers.height;
  const scale = Math.min(width / layers.width, height / layers.height);
  return { scale, x: (width - layers.width * scale) / 2, y: (height - layers.height * scale) / 2 };
}

/** Zoomed to `scale` (within the limits), the image point under (px, py) staying under it. */
function zoomedTo(view: ViewTransform, wanted: number, px: number, py: number): ViewTransform {
  const scale = Math.min(MAX_SCALE, Math.max(0.05, wanted));
  const applied = scale / view.scale;
  return { scale, x: px - (px - view.x) * applied, y: py - (py - view.y) * applied };
}

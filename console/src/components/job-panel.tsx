/**
 * One job, live: its state and counts, elapsed time and cost estimate, each image's state (the uploads
 * this page makes, then the service's), the job's Kaggle CSV, and the viewer of the image picked.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import type { JobImage, JobView } from "../../../core/schemas/api";
import { CELL_TYPES } from "../../../core/types";
import { ApiError, type ApiClient } from "../api-client";
import type { UploadState } from "../uploads";
import { CellTypeSwatch } from "./cell-type-swatch";
import { DownloadButton } from "./download-button";
import { ResultViewer } from "./result-viewer";

/** How often a job that is not finished is read again. */
const POLL_MS = 1500;

/** The states a person reads, from the upload this page makes and the service's state. */
type ShownState = "waiting" | "uploading" | "queued" | "running" | "done" | "failed";

function shownState(image: JobImage | undefined, upload: UploadState | undefined): ShownState {
  if (upload?.state === "failed") return "failed";
  switch (image?.state) {
    case "queued":
    case "running":
    case "failed":
      return image.state;
    case "succeeded":
      return "done";
    default:
      return upload?.state === "uploading" ? "uploading" : "waiting";
  }
}

/** The job-wide results (every image's rows in one file), by format. */
const JOB_RESULT_LABELS: Readonly<Record<string, string>> = {
  kaggle: "Job CSV (Kaggle)",
  measurements: "Job measurements (CSV)",
  summary: "Job summary (CSV)",
};

/**
 * Whether nothing more will happen to the job: no image queued or running, and none awaiting an upload but
 * those whose upload from this page failed (the service waits for them; the page shows why).
 */
function finished(view: JobView, uploads: ReadonlyMap<string, UploadState> | undefined): boolean {
  return view.files.every(
    (file) =>
      file.state === "succeeded" ||
      file.state === "failed" ||
      (file.state === "awaiting_upload" && uploads?.get(file.fileName)?.state === "failed"),
  );
}

export interface JobPanelProps {
  readonly api: ApiClient;
  readonly jobId: string;
  readonly uploads: ReadonlyMap<string, UploadState> | undefined;
  readonly localFiles: ReadonlyMap<string, File> | undefined;
  /** Uploads this page made and can make again (their link is still valid for a while). */
  readonly onRetryUpload?: (fileName: string) => void;
  /** The image shown in the viewer, by file name. */
  readonly viewing: string | undefined;
  readonly onView: (fileName: string | undefined) => void;
}

export function JobPanel({ api, jobId, uploads, localFiles, onRetryUpload, viewing, onView }: JobPanelProps) {
  const [view, setView] = useState<JobView>();
  const [error, setError] = useState<string>();
  const [now, setNow] = useState(Date.now());
  // The poll reads the latest uploads without restarting on each progress event.
  const uploadsRef = useRef(uploads);
  uploadsRef.current = uploads;
  const uploading = [...(uploads?.values() ?? [])].some(
    (upload) => upload.state === "waiting" || upload.state === "uploading",
  );
  // The job-wide files exist once every image has finished, as the service sees it (a failed upload
  // leaves its image waiting).
  const done = view !== undefined && view.images.awaiting_upload + view.images.queued + view.images.running === 0;

  useEffect(() => {
    setView(undefined);
    setError(undefined);
  }, [jobId]);

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = async () => {
      try {
        const next = await api.job(jobId);
        if (stopped) return;
        setView(next);
        setError(undefined);
        setNow(Date.now());
        if (finished(next, uploadsRef.current) && !uploading) return;
      } catch (caught) {
        if (stopped) return;
        setError(caught instanceof Error ? caught.message : String(caught));
        if (caught instanceof ApiError && caught.status === 404) return;
      }
      timer = setTimeout(() => void poll(), POLL_MS);
    };
    void poll();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [api, jobId, uploading]);

  const files = mergedFiles(view, uploads);
  const viewable = files.filter(({ image }) => image?.state === "succeeded" && image.results?.json);
  const viewed = viewable.findIndex(({ name }) => name === viewing);

  return (
    <section class="job" aria-labelledby="job-title">
      <header class="job-header">
        <h2 id="job-title">
          Job <code>{jobId}</code>
        </h2>
        {view && <span class={`badge state-${view.status}`}>{view.status}</span>}
      </header>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {view && (
        <div class="job-summary">
          <dl class="figures" aria-live="polite">
            <div>
              <dt>Images</dt>
              <dd>
                {view.images.succeeded} done, {view.images.failed} failed, {view.images.running} running,{" "}
                {view.images.queued} queued, {view.images.awaiting_upload} waiting of {view.images.total}
              </dd>
            </div>
            <div>
              <dt>Elapsed</dt>
              <dd>{elapsed(view, done ? undefined : now)}</dd>
            </div>
            <div>
              <dt>Cells</dt>
              <dd>
                {view.cells}
                {CELL_TYPES.filter((type) => view.cellsPerType[type]).map((type) => (
                  <span key={type} class="type-count">
                    <CellTypeSwatch cellType={type} /> {type} {view.cellsPerType[type]}
                  </span>
                ))}
              </dd>
            </div>
            <div>
              <dt>Estimated cost</dt>
              <dd title={view.compute.basis}>
                ${view.compute.estimatedCostUsd.toFixed(4)}{" "}
                <span class="muted">({view.compute.endpointSeconds.toFixed(1)} s of model time)</span>
              </dd>
            </div>
          </dl>
          <div class="buttons">
            {Object.entries(view.results).map(([format, path]) => (
              <DownloadButton
                key={format}
                api={api}
                path={path}
                label={JOB_RESULT_LABELS[format] ?? `Job ${format}`}
                disabled={!done || view.images.succeeded === 0}
              />
            ))}
          </div>
        </div>
      )}
      <table class="files">
        <caption class="visually-hidden">The job's images</caption>
        <thead>
          <tr>
            <th scope="col">Image</th>
            <th scope="col">State</th>
            <th scope="col">Cell type</th>
            <th scope="col">Cells</th>
            <th scope="col">Details</th>
            <th scope="col">
              <span class="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {files.map(({ name, image, upload }) => {
            const state = shownState(image, upload);
            return (
              <tr key={name} class={name === viewing ? "selected" : undefined} data-state={state}>
                <th scope="row">{name}</th>
                <td>
                  <span class={`badge state-${state}`}>{state}</span>
                  {upload?.state === "uploading" && state === "uploading" && (
                    <progress max={upload.total} value={upload.loaded} aria-label={`Upload of ${name}`}>
                      {Math.round((100 * upload.loaded) / Math.max(upload.total, 1))}%
                    </progress>
                  )}
                </td>
                <td>
                  {image?.cellType && (
                    <>
                      <CellTypeSwatch cellType={image.cellType} /> {image.cellType}
                    </>
                  )}
                </td>
                <td class="number">{image?.cells ?? ""}</td>
                <td class="details">
                  {upload?.state === "failed" && image?.state !== "succeeded" && image?.state !== "failed" ? (
                    <>
                      {upload.error}{" "}
                      {onRetryUpload && (
                        <button
                          type="button"
                          class="retry"
                          onClick={() => onRetryUpload(name)}
                          aria-label={`Retry upload of ${name}`}
                        >
                          Retry
                        </button>
                      )}
                    </>
                  ) : image?.error ? (
                    image.error.message
                  ) : image?.timings ? (
                    `${(image.timings.totalMs / 1000).toFixed(1)} s`
                  ) : (
                    ""
                  )}
                </td>
                <td>
                  {image?.state === "succeeded" && image.results?.json && (
                    <button type="button" onClick={() => onView(name)} aria-label={`View ${name}`}>
                      View
                    </button>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {viewed >= 0 && (
        <ResultViewer
          api={api}
          image={viewable[viewed]!.image!}
          localFile={localFiles?.get(viewable[viewed]!.name)}
          position={{ index: viewed, count: viewable.length }}
          onMove={(step) => onView(viewable[(viewed + step + viewable.length) % viewable.length]!.name)}
          onClose={() => onView(undefined)}
        />
      )}
    </section>
  );
}

/** The job's files in its order, with this page's uploads of them. */
function mergedFiles(view: JobView | undefined, uploads: ReadonlyMap<string, UploadState> | undefined) {
  const names = view ? view.files.map((file) => file.fileName) : [...(uploads?.keys() ?? [])];
  const images = new Map(view?.files.map((file) => [file.fileName, file]));
  return names.map((name) => ({ name, image: images.get(name), upload: uploads?.get(name) }));
}

/** From the job's creation to now, or to its last image's end once finished. */
function elapsed(view: JobView, now: number | undefined): string {
  if (!view.createdAt) return "—";
  const end =
    now ??
    Math.max(
      ...view.files.map((file) => (file.updatedAt ? Date.parse(file.updatedAt) : 0)),
      Date.parse(view.createdAt),
    );
  const seconds = Math.max(0, Math.round((end - Date.parse(view.createdAt)) / 1000));
  return seconds < 60 ? `${seconds} s` : `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
}

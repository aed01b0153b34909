/**
 * The console: start a job by dropping or picking images, follow it live, look at its results; the jobs
 * made in this browser stay listed across reloads. The address says which job and image are shown
 * (`#/jobs/<id>/<file>`), so a reload or a shared link opens the same view.
 */
import { useCallback, useEffect, useMemo, useState } from "preact/hooks";
import type { UploadTarget } from "../../../core/schemas/api";
import { ApiClient, type Authenticator } from "../api-client";
import { BearerTokenAuth } from "../auth/bearer-token";
import type { ConsoleConfig } from "../console-config";
import { splitImages, type PickedFile } from "../file-picking";
import { forgetJob, recentJobs, rememberJob, type RecentJob } from "../recent-jobs";
import { uploadAll, type UploadState } from "../uploads";
import { JobPanel } from "./job-panel";
import { RecentJobsList } from "./recent-jobs-list";
import { TokenDialog, type TokenRequest } from "./token-dialog";
import { UploadZone } from "./upload-zone";

interface Route {
  readonly jobId?: string;
  readonly fileName?: string;
}

function currentRoute(): Route {
  const match = /^#\/jobs\/([^/]+)(?:\/(.+))?$/.exec(location.hash);
  if (!match) return {};
  return { jobId: decodeURIComponent(match[1]!), ...(match[2] ? { fileName: decodeURIComponent(match[2]) } : {}) };
}

function routeHash(route: Route): string {
  if (!route.jobId) return "#/";
  return `#/jobs/${encodeURIComponent(route.jobId)}${route.fileName ? `/${encodeURIComponent(route.fileName)}` : ""}`;
}

export interface AppProps {
  readonly config: ConsoleConfig;
  /** The signed-in user's credentials (AWS); none: the local service's optional bearer token. */
  readonly authenticator?: Authenticator;
  readonly account?: { readonly name: string; readonly signOut: () => void };
}

export function App({ config, authenticator, account }: AppProps) {
  const [route, setRoute] = useState(currentRoute);
  const [recent, setRecent] = useState(recentJobs);
  const [notice, setNotice] = useState<string>();
  const [busy, setBusy] = useState(false);
  const [tokenRequest, setTokenRequest] = useState<TokenRequest>();
  // Per job: this page's uploads and the files they came from (the viewer draws on the originals).
  const [uploads, setUploads] = useState<ReadonlyMap<string, ReadonlyMap<string, UploadState>>>(new Map());
  const [localFiles, setLocalFiles] = useState<ReadonlyMap<string, ReadonlyMap<string, File>>>(new Map());
  const [uploadTargets, setUploadTargets] = useState<ReadonlyMap<string, readonly UploadTarget[]>>(new Map());

  const api = useMemo(() => {
    const auth =
      authenticator ??
      new BearerTokenAuth(
        (rejected) =>
          new Promise((resolve) =>
            setTokenRequest({
              rejected,
              answer: (token) => {
                setTokenRequest(undefined);
                resolve(token);
              },
            }),
          ),
      );
    return new ApiClient(config.apiUrl, auth);
  }, [config, authenticator]);

  useEffect(() => {
    const onHashChange = () => setRoute(currentRoute());
    addEventListener("hashchange", onHashChange);
    return () => removeEventListener("hashchange", onHashChange);
  }, []);
  const navigate = useCallback((next: Route) => {
    location.hash = routeHash(next);
  }, []);

  const setUpload = useCallback((jobId: string, fileName: string, state: UploadState) => {
    setUploads((all) => new Map(all).set(jobId, new Map(all.get(jobId)).set(fileName, state)));
  }, []);

  const startJob = async (picked: PickedFile[]) => {
    const { images, ignored } = splitImages(picked);
    const skipped = ignored.length
      ? ` ${ignored.length} other file(s) left out (not PNG, TIFF or JPEG): ${ignored
          .slice(0, 5)
          .map((file) => file.name)
          .join(", ")}${ignored.length > 5 ? ", …" : ""}.`
      : "";
    if (images.length === 0) {
      setNotice(`Nothing to segment: no PNG, TIFF or JPEG among the ${picked.length} file(s).${skipped}`);
      return;
    }
    setBusy(true);
    setNotice(skipped.trim() || undefined);
    try {
      const job = await api.createJob(images.map((image) => image.name));
      const files = new Map(images.map((image) => [image.name, image.file]));
      const label =
        images.length === 1
          ? images[0]!.name
          : images[0]!.name.includes("/")
            ? images[0]!.name.split("/")[0]!
            : `${images.length} images`;
      setRecent(rememberJob({ jobId: job.jobId, createdAt: new Date().toISOString(), files: images.length, label }));
      setLocalFiles((all) => new Map(all).set(job.jobId, files));
      setUploadTargets((all) => new Map(all).set(job.jobId, job.uploads));
      setUploads((all) =>
        new Map(all).set(
          job.jobId,
          new Map(images.map((image) => [image.name, { state: "waiting", total: image.file.size } as const])),
        ),
      );
      navigate({ jobId: job.jobId });
      await uploadAll(job.uploads, files, (fileName, state) => setUpload(job.jobId, fileName, state));
    } catch (caught) {
      setNotice(`The job could not be created: ${caught instanceof Error ? caught.message : String(caught)}`);
    } finally {
      setBusy(false);
    }
  };

  /** Uploads one file again through the link its job gave (valid for the API's upload link lifetime). */
  const retryUpload = (jobId: string, fileName: string) => {
    const target = uploadTargets.get(jobId)?.find((upload) => upload.fileName === fileName);
    const file = localFiles.get(jobId)?.get(fileName);
    if (target && file)
      void uploadAll([target], new Map([[fileName, file]]), (name, state) => setUpload(jobId, name, state));
  };

  const forget = (jobId: string) => {
    setRecent(forgetJob(jobId));
    if (route.jobId === jobId) navigate({});
  };

  return (
    <>
      <header class="top">
        <h1>
          <a href="#/">cellseg</a> <span class="muted">web console</span>
        </h1>
        {account && (
          <div class="account">
            <span>{account.name}</span>
            <button type="button" onClick={account.signOut}>
              Sign out
            </button>
          </div>
        )}
      </header>
      <main>
        <aside class="side">
          <UploadZone onFiles={(files) => void startJob(files)} busy={busy} />
          <RecentJobsList jobs={recent as RecentJob[]} current={route.jobId} onForget={forget} />
        </aside>
        <div class="content">
          {notice && (
            <p role="status" class="notice">
              {notice}
            </p>
          )}
          {route.jobId ? (
            <JobPanel
              api={api}
              jobId={route.jobId}
              uploads={uploads.get(route.jobId)}
              localFiles={localFiles.get(route.jobId)}
              onRetryUpload={
                uploadTargets.has(route.jobId) ? (fileName) => retryUpload(route.jobId!, fileName) : undefined
              }
              viewing={route.fileName}
              onView={(fileName) => navigate({ jobId: route.jobId!, ...(fileName ? { fileName } : {}) })}
            />
          ) : (
            <section class="welcome">
              <h2>Segment neuronal cells</h2>
              <p>
                Drop phase-contrast images (or a whole plate's folder) on <em>New job</em>. Each image is uploaded,
                segmented into cells (shsy5y, astro, cort) and shown with its cells outlined in their type's colour;
                every result format can be downloaded.
              </p>
            </section>
          )}
        </div>
      </main>
      <TokenDialog request={tokenRequest} />
    </>
  );
}

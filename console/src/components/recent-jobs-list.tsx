/** The jobs made in this browser, to open again after a reload. */
import type { RecentJob } from "../recent-jobs";

export function RecentJobsList({
  jobs,
  current,
  onForget,
}: {
  jobs: readonly RecentJob[];
  current: string | undefined;
  onForget: (jobId: string) => void;
}) {
  return (
    <nav class="recent" aria-labelledby="recent-title">
      <h2 id="recent-title">Recent jobs</h2>
      {jobs.length === 0 ? (
        <p class="muted">None yet in this browser.</p>
      ) : (
        <ul>
          {jobs.map((job) => (
            <li key={job.jobId}>
              <a
                href={`#/jobs/${encodeURIComponent(job.jobId)}`}
                aria-current={job.jobId === current ? "page" : undefined}
              >
                <span class="label">{job.label}</span>
                <span class="muted">
                  {job.files} image{job.files === 1 ? "" : "s"} · {new Date(job.createdAt).toLocaleString()}
                </span>
              </a>
              <button
                type="button"
                class="link"
                aria-label={`Forget job ${job.label}`}
                onClick={() => onForget(job.jobId)}
              >
                ×
              </button>
            </li>
          ))}
        </ul>
      )}
    </nav>
  );
}

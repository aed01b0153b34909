/** The jobs made in this browser, kept across reloads (localStorage), newest first. */

export interface RecentJob {
  readonly jobId: string;
  readonly createdAt: string;
  readonly files: number;
  /** What was dropped: the folder's or the first file's name. */
  readonly label: string;
}

const RECENT_KEY = "cellseg.recentJobs";
const KEPT = 20;

export function recentJobs(): RecentJob[] {
  try {
    const value: unknown = JSON.parse(localStorage.getItem(RECENT_KEY) ?? "[]");
    return Array.isArray(value) ? value.filter((job): job is RecentJob => typeof job?.jobId === "string") : [];
  } catch {
    // A value another version wrote, or edited by hand: start afresh rather than fail the page.
    return [];
  }
}

export function rememberJob(job: RecentJob): RecentJob[] {
  const jobs = [job, ...recentJobs().filter((other) => other.jobId !== job.jobId)].slice(0, KEPT);
  localStorage.setItem(RECENT_KEY, JSON.stringify(jobs));
  return jobs;
}

export function forgetJob(jobId: string): RecentJob[] {
  const jobs = recentJobs().filter((job) => job.jobId !== jobId);
  localStorage.setItem(RECENT_KEY, JSON.stringify(jobs));
  return jobs;
}

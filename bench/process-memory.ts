/** A process's memory as Linux reports it, for benchmarks and the reliability tests. */
import { readFileSync } from "node:fs";

/** Resident and peak resident memory of a process, in KiB (0 where /proc is unavailable). */
export function readMemory(pid: number): { rssKiB: number; hwmKiB: number } {
  let status: string;
  try {
    // Synchronous on purpose: a sample must not wait behind the load generator's callbacks.
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return { rssKiB: 0, hwmKiB: 0 };
  }
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0);
  return { rssKiB: field("VmRSS"), hwmKiB: field("VmHWM") };
}

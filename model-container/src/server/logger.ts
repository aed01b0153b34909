/**
 * Structured logs: one JSON object per line on stdout, which SageMaker ships to CloudWatch as is (a
 * Logs Insights query can then filter on `msg`, `status` or `timings.inferenceMs`). Powertools' logger
 * targets Lambda's context; this server needs only the line format.
 */
import { errorFields as sharedErrorFields } from "../../../plumbing/error-fields";
import type { LogFields, Logger } from "../../../plumbing/logger";

export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LoggerOptions {
  /** Where each line goes (without its newline). @default a write to process.stdout */
  readonly write?: (line: string) => void;
  /** Lines below this level are dropped. @default "info" */
  readonly level?: LogLevel;
  /** Fields added to every line. */
  readonly base?: LogFields;
}

/**
 * A JSON-lines logger. Errors anywhere in the fields are written as `{ name, message, stack }` (JSON
 * would otherwise turn them into `{}`), and a field that cannot be serialised never throws.
 *
 * @example
 * ```ts
 * const logger = createLogger({ base: { service: "cellseg-model-server" } });
 * logger.info("request", { method: "POST", path: "/invocations", status: 200 });
 * // {"time":"2025-01-01T00:00:00.000Z","level":"info","msg":"request","service":...,"method":"POST",...}
 * ```
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const threshold = LOG_LEVELS.indexOf(options.level ?? "info");
  const log =
    (level: LogLevel) =>
    (msg: string, ...fields: LogFields[]) => {
      if (LOG_LEVELS.indexOf(level) < threshold) return;
      write(serialise(Object.assign({ time: new Date().toISOString(), level, msg }, options.base, ...fields)));
    };
  return { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") };
}

/** An error as a log field: its name, message, stack and cause chain. */
export function errorFields(error: unknown): LogFields {
  return sharedErrorFields(error, { stack: true });
}

function serialise(entry: LogFields): string {
  try {
    return JSON.stringify(entry, (_key, value: unknown) => {
      if (value instanceof Error) return errorFields(value);
      if (typeof value === "bigint") return value.toString();
      return value;
    });
  } catch (error) {
    // A cyclic field must not take the request (or the server) down with it.
    return JSON.stringify({ time: entry.time, level: entry.level, msg: entry.msg, logError: String(error) });
  }
}

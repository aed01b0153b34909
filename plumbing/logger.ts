/**
 * The project's one structured-logging interface: a message and its fields, at four levels. Powertools'
 * Logger (the functions, the local stack) is one as it stands, and so is the model server's JSON-lines
 * logger (model-container/src/server/logger.ts); code that logs takes this, never a concrete logger.
 */

/** A log line's fields; errors among them are written with errorFields (error-fields.ts). */
export type LogFields = Record<string, unknown>;

/**
 * Each fields object is added to the line (Powertools' signature, which merges them).
 *
 * @example
 * ```ts
 * function watch(logger: Logger) {
 *   logger.warn("cannot queue the file", { key, error: errorFields(error) });
 * }
 * watch(new Logger({ serviceName: "cellseg" })); // Powertools
 * ```
 */
export interface Logger {
  debug(message: string, ...fields: LogFields[]): void;
  info(message: string, ...fields: LogFields[]): void;
  warn(message: string, ...fields: LogFields[]): void;
  error(message: string, ...fields: LogFields[]): void;
}

/**
 * An error as structured log fields: JSON would turn an Error into `{}`. Shared by every JSON logger in
 * the project (the model server's own, Powertools' in the functions).
 */

export interface ErrorFieldsOptions {
  /** Include the stack (the model server logs it; Powertools adds its own for the error it is given). */
  readonly stack?: boolean;
}

/**
 * Name, message, optionally the stack, and the cause chain.
 *
 * @example
 * ```ts
 * logger.error("request failed", { error: errorFields(error, { stack: true }) });
 * ```
 */
export function errorFields(error: unknown, options: ErrorFieldsOptions = {}): Record<string, unknown> {
  if (!(error instanceof Error)) return { message: String(error) };
  return {
    name: error.name,
    message: error.message,
    ...(options.stack ? { stack: error.stack } : {}),
    ...(error.cause !== undefined ? { cause: errorFields(error.cause, options) } : {}),
  };
}

/**
 * The one configuration error of every entry point: the functions and the local stack (environment
 * variables), the model server (environment variables) and the CDK app (context values). Entry points
 * catch it to print its message instead of a stack trace.
 */

/** Thrown when the configuration is incomplete or malformed; the message names every bad value. */
export class ConfigError extends Error {
  /** One entry per bad variable, key or combination. */
  readonly problems: readonly string[];

  constructor(message: string, problems: readonly string[] = [message]) {
    super(message);
    this.name = new.target.name;
    this.problems = problems;
  }

  /** @example throw ConfigError.invalidEnvironment(["PORT=\"x\": must be a whole number"]) */
  static invalidEnvironment(problems: readonly string[]): ConfigError {
    return new ConfigError(`invalid environment: ${problems.join(", ")}`, problems);
  }
}

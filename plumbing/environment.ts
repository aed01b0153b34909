/**
 * Reading configuration from environment variables: one zod schema per variable, keyed by its name, so
 * that a problem can name the variable and its value. Shared by the model server, the functions and the local
 * stack, which each wrap the result in their own typed configuration and throw ConfigError (errors.ts).
 */
import { z } from "zod";

/** The environment as `process.env` gives it. */
export type Environment = Readonly<Record<string, string | undefined>>;

/** One schema per variable; each parses the variable's text, or `undefined` when it is unset. */
export type EnvironmentSchemas = Readonly<Record<string, z.ZodType>>;

/** The parsed value of each variable. */
export type EnvironmentValues<S extends EnvironmentSchemas> = { -readonly [K in keyof S]: z.output<S[K]> };

/** Every variable parsed, or one problem per malformed or missing variable: `NAME=value: message`. */
export type ParsedEnvironment<S extends EnvironmentSchemas> =
  | { readonly ok: true; readonly values: EnvironmentValues<S> }
  | { readonly ok: false; readonly problems: readonly string[] };

/**
 * A whole number in `[min, max]`, from the variable's text.
 *
 * @example
 * ```ts
 * const variables = { PORT: integer(0, 65_535).default(8080) };
 * ```
 */
export const integer = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, "must be a whole number")
    .transform(Number)
    .pipe(z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

/** Text with something other than white space in it (trimmed). */
export const nonEmpty = z.string().trim().min(1, "must not be empty");

/**
 * Parses each variable with its schema, collecting the problems of all of them rather than stopping at the
 * first. An empty variable (`PORT=`) means "not set", as shells and compose files tend to produce them.
 *
 * @example
 * ```ts
 * const parsed = parseEnvironment({ PORT: integer(0, 65_535).default(8080) }, process.env);
 * if (!parsed.ok) throw ConfigError.invalidEnvironment(parsed.problems);
 * const port = parsed.values.PORT;
 * ```
 */
export function parseEnvironment<S extends EnvironmentSchemas>(variables: S, env: Environment): ParsedEnvironment<S> {
  const problems: string[] = [];
  const values: Partial<Record<keyof S, unknown>> = {};
  for (const [name, schema] of Object.entries(variables) as [keyof S & string, z.ZodType][]) {
    const raw = env[name] === "" ? undefined : env[name];
    const parsed = schema.safeParse(raw);
    if (parsed.success) values[name] = parsed.data;
    else if (raw === undefined) problems.push(`${name} must be set`);
    else
      problems.push(`${name}=${JSON.stringify(raw)}: ${parsed.error.issues.map((issue) => issue.message).join("; ")}`);
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, values: values as EnvironmentValues<S> };
}

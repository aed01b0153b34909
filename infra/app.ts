/**
 * The CDK app's entry point (`cdk.json`: `npx tsx infra/app.ts`). The CLI synthesizes the app when this
 * process exits; a bad context value ends it with the configuration's message instead of a stack trace.
 */
import { createCellsegApp } from "./cellseg-app";
import { ConfigError } from "../plumbing/errors";

try {
  createCellsegApp();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exitCode = 1;
}

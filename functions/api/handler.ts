/**
 * The API function: API Gateway (REST, IAM-authorised, binary media types on) → the hono app. Thin: the
 * app is built once per instance from the environment (config.ts); a missing variable fails every
 * invocation with a ConfigError naming it.
 */
import { Logger } from "@aws-lambda-powertools/logger";
import { handle } from "hono/aws-lambda";
import { createApi } from "./app";
import { loadApiConfig } from "./config";
import { wireApi } from "./wiring";

const logger = new Logger({ serviceName: "cellseg-api" });
let wired: ReturnType<typeof handle> | undefined;

export const handler: ReturnType<typeof handle> = (event, context) => {
  wired ??= handle(createApi(wireApi(loadApiConfig(process.env), logger)));
  return wired(event, context);
};

/**
 * `npm start`: the local stack in the foreground. Prints where to send images, then runs until Ctrl-C
 * (SIGINT) or SIGTERM, when it stops taking work, lets the images being segmented finish, stops the
 * model server and exits 0; a second signal exits at once with 1.
 */
import { ConfigError } from "../../plumbing/errors";
import { loadLocalStackConfig, type LocalStackConfig } from "./config";
import { LOCAL_S3_CREDENTIALS } from "./s3-server";
import { exposureWarnings, startLocalStack, type LocalStack } from "./stack";

async function main(): Promise<void> {
  let config: LocalStackConfig;
  try {
    config = loadLocalStackConfig(process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    process.exit(1);
  }
  // Metrics go to CloudWatch in AWS; here they would only print EMF lines among the logs.
  process.env.POWERTOOLS_METRICS_DISABLED ??= "true";
  // On Node 20 the AWS SDK warns on every start that its 2027 releases will need Node 22 (the lock file pins
  // today's; Lambda and the container run Node 22): the README says it once instead.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  if (config.storage.kind === "s3rver") {
    // The SDK signs with credentials from the environment; s3rver checks them against its own.
    process.env.AWS_ACCESS_KEY_ID ??= LOCAL_S3_CREDENTIALS.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY ??= LOCAL_S3_CREDENTIALS.secretAccessKey;
  }
  console.log(`cellseg: starting the model server and the API (data in ${config.dataDirectory}) ...`);
  let stack: LocalStack | undefined;
  let stopping = false;
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) {
      console.log(`cellseg: ${signal} again, exiting without waiting`);
      process.exit(1);
    }
    stopping = true;
    if (stack === undefined) {
      console.log(`cellseg: ${signal} while starting; stopping once started (${signal} again to exit at once)`);
      return;
    }
    const segmenting = stack.segmenting();
    const waiting = stack.pending() - segmenting;
    const now =
      segmenting > 0
        ? `; waiting for the ${segmenting} image(s) being segmented (${signal} again to exit at once)`
        : "";
    const later = waiting > 0 ? `; ${waiting} waiting image(s) are picked up at the next start` : "";
    console.log(`cellseg: stopping${now}${later} ...`);
    const clean = await stack.stop();
    console.log(`cellseg: stopped${clean ? "" : " (not cleanly: see the log)"}`);
    process.exit(clean ? 0 : 1);
  };
  process.on("SIGINT", (signal) => void stop(signal));
  process.on("SIGTERM", (signal) => void stop(signal));

  stack = await startLocalStack(config, process.env, {
    onFatal: (error) => {
      console.error(`cellseg: ${error.message}`);
      process.exit(1);
    },
  });
  if (stopping) {
    stopping = false;
    return stop("SIGINT");
  }
  for (const warning of exposureWarnings(config, process.env)) console.warn(`cellseg: warning: ${warning}`);
  const { apiUrl, modelServerUrl, modelServerPid, storage } = stack;
  console.log(
    JSON.stringify({ level: "INFO", message: "local stack ready", apiUrl, modelServerUrl, modelServerPid, storage }),
  );
  console.log(banner(stack));
}

function banner(stack: LocalStack): string {
  const modelServerLog = stack.modelServerLog ? `   (pid ${stack.modelServerPid}, log: ${stack.modelServerLog})` : "";
  const lines = [
    "",
    "cellseg is running locally",
    `  web console    ${stack.apiUrl}/`,
    `  API            ${stack.apiUrl}/v1   (OpenAPI document: ${stack.apiUrl}/v1/openapi.json)`,
    `  model server   ${stack.modelServerUrl}${modelServerLog}`,
  ];
  if (stack.storage.kind === "directory") {
    lines.push(
      `  upload         drop images into ${stack.storage.inputDirectory}<job>/   (a folder per job)`,
      `                 or: curl -X POST ${stack.apiUrl}/v1/jobs -H 'content-type: application/json' -d ` +
        `'{"filename":"cells.png"}'`,
      `  results        ${stack.storage.outputDirectory}<job>/<file>/status.json, or GET ${stack.apiUrl}/v1/jobs/<job>`,
    );
  } else {
    lines.push(
      `  upload         s3://${stack.storage.bucket}/input/<job>/<file> at ${stack.storage.url} ` +
        `(path-style), or POST ${stack.apiUrl}/v1/jobs`,
      `  results        s3://${stack.storage.bucket}/output/<job>/<file>/status.json, or GET ` +
        `${stack.apiUrl}/v1/jobs/<job>`,
    );
  }
  lines.push("  Ctrl-C stops everything.", "");
  return lines.join("\n");
}

main().catch((error: unknown) => {
  console.error("cellseg: cannot start:", error instanceof Error ? error.message : error);
  process.exit(1);
});

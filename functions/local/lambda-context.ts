/**
 * The Lambda context the local stack hands to the segment function's handler: what Powertools reads for
 * its log fields, naming the local run as such. Lambda's 15-minute limit does not apply locally.
 */
import { randomUUID } from "node:crypto";
import type { Context } from "aws-lambda";

/** @example await segment(event, localLambdaContext("cellseg-segment")) */
export function localLambdaContext(functionName: string): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: "local",
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: "0",
    awsRequestId: randomUUID(),
    logGroupName: "local",
    logStreamName: "local",
    getRemainingTimeInMillis: () => Number.MAX_SAFE_INTEGER,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

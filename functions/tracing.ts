/**
 * X-Ray tracing of the functions' AWS calls (S3, SageMaker, SQS), when the stack turns it on
 * (`cdk deploy -c tracing=true`: active tracing and POWERTOOLS_TRACE_ENABLED=true). Powertools' Tracer
 * is off otherwise, and outside Lambda (the local stack, the tests): then a client is returned as it is.
 */
import { Tracer } from "@aws-lambda-powertools/tracer";

const tracer = new Tracer();

/** The client, its calls recorded as subsegments of the invocation's trace while tracing is on. */
export function traced<Client extends object>(client: Client): Client {
  return tracer.isTracingEnabled() ? tracer.captureAWSv3Client(client) : client;
}

import { Match } from "aws-cdk-lib/assertions";
import { describe, expect, it } from "vitest";
import { getAtt, logicalId, ref, synthesize } from "./synth";

describe("HTTPS API", () => {
  const { stack, template } = synthesize();
  const { api } = stack;
  const stage = () =>
    Object.values(template.findResources("AWS::ApiGateway::Stage"))[0] as { Properties: Record<string, unknown> };

  it("is a regional REST API that passes images through as binary", () => {
    template.resourceCountIs("AWS::ApiGateway::RestApi", 1);
    template.hasResourceProperties("AWS::ApiGateway::RestApi", {
      BinaryMediaTypes: ["*/*"],
      EndpointConfiguration: { Types: ["REGIONAL"] },
    });
  });

  it("requires SigV4 (AWS_IAM) on every method, and proxies each to the API function", () => {
    // ANY / and ANY /{proxy+}; the OPTIONS methods answer the web console's CORS preflights (web-console.test.ts).
    const methods = (
      Object.values(template.findResources("AWS::ApiGateway::Method")) as { Properties: Record<string, unknown> }[]
    ).filter((method) => method.Properties.HttpMethod !== "OPTIONS");
    expect(methods).toHaveLength(2);
    for (const method of methods) {
      expect(method.Properties).toMatchObject({
        AuthorizationType: "AWS_IAM",
        HttpMethod: "ANY",
        Integration: { Type: "AWS_PROXY", IntegrationHttpMethod: "POST" },
      });
      expect(JSON.stringify(method.Properties.Integration)).toContain(logicalId(api.handler.function));
    }
  });

  it("throttles the stage", () => {
    expect(stage().Properties.MethodSettings).toEqual([
      expect.objectContaining({
        HttpMethod: "*",
        ResourcePath: "/*",
        ThrottlingRateLimit: 10,
        ThrottlingBurstLimit: 20,
      }),
    ]);
  });

  it("takes the throttling from the context", () => {
    synthesize({ apiThrottleRateLimit: "50", apiThrottleBurstLimit: "100" }).template.hasResourceProperties(
      "AWS::ApiGateway::Stage",
      {
        MethodSettings: [Match.objectLike({ ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 })],
      },
    );
  });

  it("writes JSON access logs to its log group, and execution errors, but never bodies", () => {
    expect(stage().Properties).toMatchObject({
      StageName: "prod",
      MethodSettings: [
        expect.objectContaining({ LoggingLevel: "ERROR", DataTraceEnabled: false, MetricsEnabled: true }),
      ],
    });
    expect(
      JSON.stringify((stage().Properties.AccessLogSetting as { DestinationArn: unknown }).DestinationArn),
    ).toContain(JSON.stringify(ref(api.accessLogs)));
    const format = JSON.parse((stage().Properties.AccessLogSetting as { Format: string }).Format) as Record<
      string,
      string
    >;
    expect(format).toMatchObject({
      requestId: "$context.requestId",
      status: "$context.status",
      user: "$context.identity.user",
      caller: "$context.identity.caller",
    });
    // Why API Gateway or the integration ended a request (authorization, throttling, a timeout).
    expect(format).toMatchObject({
      errorMessage: "$context.error.message",
      errorType: "$context.error.responseType",
      integrationError: "$context.integrationErrorMessage",
    });
    expect(template.toJSON().Resources[logicalId(api.accessLogs)].Properties.RetentionInDays).toBe(30);
  });

  it(
    "sets up API Gateway's CloudWatch Logs role, " +
      "and keeps it when the stack goes (other APIs of the account use it)",
    () => {
      template.hasResourceProperties("AWS::ApiGateway::Account", { CloudWatchRoleArn: Match.anyValue() });
      const account = Object.values(template.findResources("AWS::ApiGateway::Account"))[0] as {
        Properties: { CloudWatchRoleArn: { "Fn::GetAtt": [string, string] } };
      };
      const [roleId] = account.Properties.CloudWatchRoleArn["Fn::GetAtt"];
      expect(template.toJSON().Resources[roleId]).toMatchObject({ Type: "AWS::IAM::Role", DeletionPolicy: "Retain" });
    },
  );

  it("leaves the CloudWatch Logs role alone where the account already has one", () => {
    const custom = synthesize({ apiCloudWatchRole: "false" }).template;
    custom.resourceCountIs("AWS::ApiGateway::Account", 0);
    custom.resourceCountIs("AWS::ApiGateway::Stage", 1);
  });

  it("lets only this API invoke the API function", () => {
    const permissions = Object.values(template.findResources("AWS::Lambda::Permission")) as {
      Properties: { FunctionName: unknown; Principal: string; SourceArn: unknown };
    }[];
    expect(permissions.length).toBeGreaterThan(0);
    for (const permission of permissions.filter(
      (p) => JSON.stringify(p.Properties.FunctionName) === JSON.stringify(getAtt(api.handler.function, "Arn")),
    )) {
      expect(permission.Properties.Principal).toBe("apigateway.amazonaws.com");
      expect(JSON.stringify(permission.Properties.SourceArn)).toContain(JSON.stringify(ref(api.restApi)));
    }
  });
});

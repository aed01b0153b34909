/**
 * The web console's deployment: static files on S3 behind CloudFront (origin access control, HTTPS only,
 * security headers), Cognito sign-in whose users may invoke this API and nothing else, CORS for the
 * console's origin only (API and buckets), and none of it with `-c webConsole=false`.
 */
import { Stack } from "aws-cdk-lib";
import { Match } from "aws-cdk-lib/assertions";
import { describe, expect, it } from "vitest";
import { getAtt, logicalId, permissions, permissionsOf, ref, synthesize } from "./synth";

describe("web console", () => {
  const { stack, template } = synthesize();
  const webConsole = stack.webConsole!;
  const origin = stack.resolve(webConsole.origin);
  const resource = (construct: Parameters<typeof logicalId>[0]) =>
    template.toJSON().Resources[logicalId(construct)] as { Properties: Record<string, unknown> };

  it("serves the console from a private bucket through CloudFront with origin access control, HTTPS only", () => {
    template.resourceCountIs("AWS::CloudFront::Distribution", 1);
    template.resourceCountIs("AWS::CloudFront::OriginAccessControl", 1);
    template.hasResourceProperties("AWS::CloudFront::Distribution", {
      DistributionConfig: Match.objectLike({
        DefaultRootObject: "index.html",
        DefaultCacheBehavior: Match.objectLike({
          ViewerProtocolPolicy: "redirect-to-https",
          AllowedMethods: ["GET", "HEAD"],
        }),
        Origins: [
          Match.objectLike({
            OriginAccessControlId: getAtt(
              webConsole.distribution.node.findAll().find((c) => c.node.id === "S3OriginAccessControl")!,
              "Id",
            ),
          }),
        ],
        Logging: Match.objectLike({ Bucket: getAtt(webConsole.logBucket, "RegionalDomainName") }),
      }),
    });
    expect(resource(webConsole.siteBucket).Properties).toMatchObject({
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: "AES256" } }],
      },
    });
    // Only CloudFront, for this distribution, reads the files.
    template.hasResourceProperties("AWS::S3::BucketPolicy", {
      Bucket: ref(webConsole.siteBucket),
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: "s3:GetObject",
            Principal: { Service: "cloudfront.amazonaws.com" },
            Condition: { StringEquals: { "AWS:SourceArn": Match.anyValue() } },
          }),
        ]),
      },
    });
  });

  it("sends security headers: a content security policy, HSTS, no framing, no sniffing, no referrer", () => {
    const policy = Object.values(template.findResources("AWS::CloudFront::ResponseHeadersPolicy"))[0] as {
      Properties: { ResponseHeadersPolicyConfig: { SecurityHeadersConfig: Record<string, unknown> } };
    };
    const headers = policy.Properties.ResponseHeadersPolicyConfig.SecurityHeadersConfig;
    expect(headers).toMatchObject({
      StrictTransportSecurity: { AccessControlMaxAgeSec: 31_536_000, IncludeSubdomains: true, Override: true },
      FrameOptions: { FrameOption: "DENY", Override: true },
      ContentTypeOptions: { Override: true },
      ReferrerPolicy: { ReferrerPolicy: "no-referrer", Override: true },
    });
    const csp = JSON.stringify(headers.ContentSecurityPolicy);
    for (const directive of [
      "default-src 'self'",
      "script-src 'self'",
      "style-src 'self'",
      "frame-ancestors 'none'",
      "https://cognito-identity.",
    ])
      expect(csp).toContain(directive);
    expect(csp).not.toContain("unsafe-inline");
  });

  it("deploys the built console with a config.json naming the API and the sign-in, and invalidates the page", () => {
    const deployments = Object.values(template.findResources("Custom::CDKBucketDeployment")) as {
      Properties: Record<string, unknown>;
    }[];
    expect(deployments).toHaveLength(2);
    const page = deployments.find((deployment) => deployment.Properties.DistributionPaths)!;
    expect(page.Properties).toMatchObject({
      DistributionPaths: ["/index.html", "/config.json", "/"],
      Prune: false,
      SystemMetadata: { "cache-control": "no-cache" },
    });
    const assets = deployments.find((deployment) => !deployment.Properties.DistributionPaths)!;
    expect(assets.Properties).toMatchObject({
      DestinationBucketKeyPrefix: "assets/",
      SystemMetadata: { "cache-control": "public, max-age=31536000, immutable" },
    });
    // config.json's values are the deployment's own, filled in by CloudFormation.
    const markers = JSON.stringify(page.Properties.SourceMarkers);
    for (const construct of [
      webConsole.userPool,
      webConsole.userPoolClient,
      webConsole.identityPool,
      stack.api.restApi,
    ])
      expect(markers).toContain(logicalId(construct));
  });

  it("lets only users an administrator created sign in, with a strong password and a one-time code", () => {
    template.hasResourceProperties("AWS::Cognito::UserPool", {
      AdminCreateUserConfig: { AllowAdminCreateUserOnly: true },
      MfaConfiguration: "ON",
      EnabledMfas: ["SOFTWARE_TOKEN_MFA"],
      Policies: {
        PasswordPolicy: Match.objectLike({
          MinimumLength: 12,
          RequireLowercase: true,
          RequireUppercase: true,
          RequireNumbers: true,
          RequireSymbols: true,
        }),
      },
    });
    template.hasResourceProperties("AWS::Cognito::UserPoolClient", {
      GenerateSecret: false,
      AllowedOAuthFlows: ["code"],
      AllowedOAuthScopes: ["openid", "email"],
      CallbackURLs: [{ "Fn::Join": ["", [...origin["Fn::Join"][1], "/"]] }],
      PreventUserExistenceErrors: "ENABLED",
    });
    template.hasResourceProperties("AWS::Cognito::IdentityPool", { AllowUnauthenticatedIdentities: false });
  });

  it("hands signed-in users a role that may invoke this API's stage and nothing else", () => {
    template.hasResourceProperties("AWS::IAM::Role", {
      AssumeRolePolicyDocument: {
        Statement: [
          Match.objectLike({
            Action: "sts:AssumeRoleWithWebIdentity",
            Principal: { Federated: "cognito-identity.amazonaws.com" },
            Condition: {
              StringEquals: { "cognito-identity.amazonaws.com:aud": ref(webConsole.identityPool) },
              "ForAnyValue:StringLike": { "cognito-identity.amazonaws.com:amr": "authenticated" },
            },
          }),
        ],
      },
    });
    expect(permissionsOf(template, webConsole.userRole)).toEqual(
      permissions(stack, [
        { action: "execute-api:Invoke", resource: stack.api.restApi.arnForExecuteApi("*", "/*", "prod") },
      ]),
    );
    template.hasResourceProperties("AWS::Cognito::IdentityPoolRoleAttachment", {
      IdentityPoolId: ref(webConsole.identityPool),
      Roles: { authenticated: getAtt(webConsole.userRole, "Arn") },
    });
  });

  it(
    "lets the console's origin alone use presigned links: uploads to the input bucket, " +
      "downloads from the output bucket",
    () => {
      expect(resource(stack.storage.inputBucket).Properties.CorsConfiguration).toEqual({
        CorsRules: [
          {
            AllowedOrigins: [origin],
            AllowedMethods: ["PUT"],
            AllowedHeaders: ["*"],
            ExposedHeaders: ["ETag"],
            MaxAge: 3600,
          },
        ],
      });
      expect(resource(stack.storage.outputBucket).Properties.CorsConfiguration).toEqual({
        CorsRules: [{ AllowedOrigins: [origin], AllowedMethods: ["GET", "HEAD"], AllowedHeaders: ["*"], MaxAge: 3600 }],
      });
    },
  );

  it("answers the console's CORS preflights in API Gateway, unsigned, and its refusals with the CORS header", () => {
    const preflights = (
      Object.values(template.findResources("AWS::ApiGateway::Method")) as { Properties: Record<string, unknown> }[]
    ).filter((method) => method.Properties.HttpMethod === "OPTIONS");
    expect(preflights.length).toBeGreaterThan(0);
    for (const method of preflights) {
      expect(method.Properties).toMatchObject({ AuthorizationType: "NONE", Integration: { Type: "MOCK" } });
      // Access-Control-Allow-Origin: the distribution's address.
      expect(JSON.stringify(method.Properties.Integration)).toContain(logicalId(webConsole.distribution));
    }
    for (const type of ["DEFAULT_4XX", "DEFAULT_5XX"]) {
      template.hasResourceProperties("AWS::ApiGateway::GatewayResponse", {
        ResponseType: type,
        ResponseParameters: Match.objectLike({
          "gatewayresponse.header.Access-Control-Allow-Origin": Match.anyValue(),
        }),
      });
    }
  });

  it("says where the console is and where its users are created", () => {
    template.hasOutput("ConsoleUrl", { Value: stack.resolve(webConsole.url) });
    template.hasOutput("ConsoleUserPoolId", { Value: ref(webConsole.userPool) });
  });

  it("takes the sign-in domain prefix from the context", () => {
    synthesize({ signInDomainPrefix: "lab-cells" }).template.hasResourceProperties("AWS::Cognito::UserPoolDomain", {
      Domain: "lab-cells",
    });
  });
});

describe("web console turned off (-c webConsole=false)", () => {
  const { stack, template } = synthesize({ webConsole: "false" });

  it("deploys no CloudFront, no Cognito, no CORS anywhere", () => {
    expect(stack.webConsole).toBeUndefined();
    for (const type of [
      "AWS::CloudFront::Distribution",
      "AWS::Cognito::UserPool",
      "AWS::Cognito::IdentityPool",
      "Custom::CDKBucketDeployment",
      "AWS::ApiGateway::GatewayResponse",
    ])
      template.resourceCountIs(type, 0);
    const resources = template.toJSON().Resources as Record<
      string,
      { Type: string; Properties: Record<string, unknown> }
    >;
    expect(
      Object.values(resources)
        .filter((r) => r.Type === "AWS::ApiGateway::Method")
        .map((r) => r.Properties.HttpMethod),
    ).toEqual(["ANY", "ANY"]);
    expect(resources[logicalId(stack.storage.inputBucket)]!.Properties.CorsConfiguration).toBeUndefined();
    const api = resources[logicalId(stack.api.handler.function)]!.Properties as {
      Environment: { Variables: Record<string, unknown> };
    };
    expect(api.Environment.Variables.CORS_ALLOW_ORIGINS).toBeUndefined();
    expect(Stack.of(stack).node.tryFindChild("Console")).toBeUndefined();
  });
});

/**
 * The web console in AWS: its static files (console/, built at synthesis) in a private bucket behind
 * CloudFront (origin access control, HTTPS only, security headers), and sign-in with a Cognito user pool
 * whose identity pool hands each signed-in user temporary IAM credentials that may invoke this API and
 * nothing else. The API keeps IAM as its one auth model: the browser signs its requests (SigV4) with those
 * credentials, and uploads and downloads go through the presigned links as for any client.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { AssetHashType, Aws, DefaultStackSynthesizer, DockerImage, Duration, RemovalPolicy, Stack } from "aws-cdk-lib";
import {
  AllowedMethods,
  Distribution,
  HeadersFrameOption,
  HeadersReferrerPolicy,
  PriceClass,
  ResponseHeadersPolicy,
  ViewerProtocolPolicy,
} from "aws-cdk-lib/aws-cloudfront";
import { S3BucketOrigin } from "aws-cdk-lib/aws-cloudfront-origins";
import {
  CfnIdentityPool,
  CfnIdentityPoolRoleAttachment,
  Mfa,
  OAuthScope,
  UserPool,
  type UserPoolClient,
} from "aws-cdk-lib/aws-cognito";
import { FederatedPrincipal, PolicyStatement, Role } from "aws-cdk-lib/aws-iam";
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  HttpMethods,
  ObjectOwnership,
  type IBucket,
} from "aws-cdk-lib/aws-s3";
import { BucketDeployment, CacheControl, Source, type ISource } from "aws-cdk-lib/aws-s3-deployment";
import { Construct } from "constructs";
import { buildConsoleSync, type ConsoleFile } from "../../console/build";
import type { ConsoleConfig } from "../../console/src/console-config";
import { acknowledge, WILDCARD_RESOURCE, wildcardObjects } from "../nag";
import { repositoryPath } from "../repository";
import { API_STAGE_NAME, type Api } from "./api";

/** How long a signed-in session lasts before the user signs in again (the refresh token's life). */
const SESSION_LENGTH = Duration.hours(12);

export interface WebConsoleProps {
  /** Where uploads go (presigned PUTs from the console's origin). */
  readonly inputBucket: Bucket;
  /** Where results come from (presigned GETs from the console's origin). */
  readonly outputBucket: Bucket;
  /** Where the console's bucket and CloudFront write their access logs. */
  readonly accessLogBucket: IBucket;
  /**
   * The Cognito hosted sign-in page's domain prefix, unique in the region: `<prefix>.auth.<region>.amazoncognito.com`.
   */
  readonly signInDomainPrefix: string;
}

export class WebConsole extends Construct {
  readonly siteBucket: Bucket;
  readonly logBucket: Bucket;
  readonly distribution: Distribution;
  readonly userPool: UserPool;
  readonly userPoolClient: UserPoolClient;
  readonly identityPool: CfnIdentityPool;
  /** The role signed-in users act as: invoking the API, nothing else. */
  readonly userRole: Role;
  /** `https://<distribution>.cloudfront.net`: the only origin the API and the buckets answer browsers from. */
  readonly origin: string;
  /** The console's address. */
  readonly url: string;
  readonly signInUrl: string;

  constructor(
    scope: Construct,
    id: string,
    private readonly props: WebConsoleProps,
  ) {
    super(scope, id);
    const { region } = Stack.of(this);

    // CloudFront's standard logs are written with ACLs: their bucket alone allows them.
    this.logBucket = new Bucket(this, "CdnLogs", {
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: ObjectOwnership.OBJECT_WRITER,
      serverAccessLogsBucket: props.accessLogBucket,
      serverAccessLogsPrefix: "console-cdn-logs/",
      lifecycleRules: [{ id: "expire-cdn-logs", expiration: Duration.days(90) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.siteBucket = new Bucket(this, "Site", {
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: props.accessLogBucket,
      serverAccessLogsPrefix: "console/",
      // Only build output, deployed again by every `cdk deploy`.
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.userPool = new UserPool(this, "Users", {
      // An administrator creates each user (README): the console is not open to anyone who finds it.
      selfSignUpEnabled: false,
      signInAliases: { email: true },
      autoVerify: { email: true },
      mfa: Mfa.REQUIRED,
      mfaSecondFactor: { otp: true, sms: false },
      passwordPolicy: {
        minLength: 12,
        requireDigits: true,
        requireLowercase: true,
        requireUppercase: true,
        requireSymbols: true,
        tempPasswordValidity: Duration.days(7),
      },
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const domain = this.userPool.addDomain("SignIn", { cognitoDomain: { domainPrefix: props.signInDomainPrefix } });
    this.signInUrl = domain.baseUrl();
    acknowledge(
      this.userPool,
      "COG8",
      "Cognito's threat protection (advanced security) is billed per active user on top of the user pool; " +
        "sign-up is closed (an administrator creates every user) and every sign-in needs a one-time code (MFA " +
        "required), which answers the credential-stuffing threat it addresses.",
    );

    this.distribution = new Distribution(this, "Cdn", {
      comment: "cellseg web console",
      defaultRootObject: "index.html",
      priceClass: PriceClass.PRICE_CLASS_100,
      enableLogging: true,
      logBucket: this.logBucket,
      logFilePrefix: "console/",
      defaultBehavior: {
        origin: S3BucketOrigin.withOriginAccessControl(this.siteBucket),
        viewerProtocolPolicy: ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        allowedMethods: AllowedMethods.ALLOW_GET_HEAD,
        compress: true,
        responseHeadersPolicy: this.securityHeaders(region),
      },
    });
    this.origin = `https://${this.distribution.distributionDomainName}`;
    this.url = `${this.origin}/`;
    acknowledge(
      this.distribution,
      "CFR1",
      "The console is for the account's own scientists wherever they work; who may use it is decided at " +
        "sign-in (Cognito, MFA required), not by country.",
    );
    acknowledge(
      this.distribution,
      "CFR2",
      "No WAF web ACL: the distribution serves only static files (no server-side code), and every API call " +
        "is signed with the signed-in user's temporary IAM credentials; a web ACL would add a fixed monthly " +
        "cost without a threat it addresses.",
    );
    acknowledge(
      this.distribution,
      "CFR4",
      "The distribution uses CloudFront's default *.cloudfront.net certificate, whose viewer TLS policy " +
        "CloudFront fixes; a custom domain and certificate (which allow TLSv1.2_2021) are the account owner's " +
        "to add.",
    );

    this.userPoolClient = this.userPool.addClient("Console", {
      generateSecret: false,
      preventUserExistenceErrors: true,
      authFlows: { userSrp: true },
      oAuth: {
        flows: { authorizationCodeGrant: true },
        scopes: [OAuthScope.OPENID, OAuthScope.EMAIL],
        callbackUrls: [this.url],
        logoutUrls: [this.url],
      },
      idTokenValidity: Duration.hours(1),
      accessTokenValidity: Duration.hours(1),
      refreshTokenValidity: SESSION_LENGTH,
    });
    this.identityPool = new CfnIdentityPool(this, "Identities", {
      allowUnauthenticatedIdentities: false,
      cognitoIdentityProviders: [
        {
          clientId: this.userPoolClient.userPoolClientId,
          providerName: this.userPool.userPoolProviderName,
          serverSideTokenCheck: true,
        },
      ],
    });
    this.userRole = new Role(this, "UserRole", {
      description: "cellseg web console: what a signed-in user may do (invoke the API)",
      assumedBy: new FederatedPrincipal(
        "cognito-identity.amazonaws.com",
        {
          StringEquals: { "cognito-identity.amazonaws.com:aud": this.identityPool.ref },
          "ForAnyValue:StringLike": { "cognito-identity.amazonaws.com:amr": "authenticated" },
        },
        "sts:AssumeRoleWithWebIdentity",
      ),
      maxSessionDuration: Duration.hours(1),
    });
    new CfnIdentityPoolRoleAttachment(this, "IdentityRoles", {
      identityPoolId: this.identityPool.ref,
      roles: { authenticated: this.userRole.roleArn },
    });

    // Presigned uploads and downloads from the console's pages only.
    props.inputBucket.addCorsRule({
      allowedOrigins: [this.origin],
      allowedMethods: [HttpMethods.PUT],
      allowedHeaders: ["*"],
      exposedHeaders: ["ETag"],
      maxAge: 3600,
    });
    props.outputBucket.addCorsRule({
      allowedOrigins: [this.origin],
      allowedMethods: [HttpMethods.GET, HttpMethods.HEAD],
      allowedHeaders: ["*"],
      maxAge: 3600,
    });
  }

  /**
   * Lets signed-in users invoke `api` (every method of its stage, nothing else) and deploys the console's
   * files with the config.json that points them at it.
   */
  serve(api: Api): void {
    const { region } = Stack.of(this);
    this.userRole.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ["execute-api:Invoke"],
        resources: [api.restApi.arnForExecuteApi("*", "/*", API_STAGE_NAME)],
      }),
    );
    const restApiLogicalId = Stack.of(this).getLogicalId(api.restApi.node.defaultChild as never);
    acknowledge(
      this.userRole,
      "IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:" +
        `<${restApiLogicalId}>/${API_STAGE_NAME}/*/*]`,
      "Every method and path of this API's stage, and no other API or AWS service: the console calls every " +
        "route (jobs, results, segment), and the API checks each request's body itself.",
    );

    const config: ConsoleConfig = {
      apiUrl: api.restApi.url,
      auth: {
        kind: "cognito",
        region,
        userPoolId: this.userPool.userPoolId,
        userPoolClientId: this.userPoolClient.userPoolClientId,
        identityPoolId: this.identityPool.ref,
        signInUrl: this.signInUrl,
      },
    };
    // Hashed assets are cached for good; the page and its config are checked at every load. Two deployments,
    // so that each carries its own Cache-Control; the assets' prunes only assets/.
    const assets = new BucketDeployment(this, "DeployAssets", {
      sources: [consoleSource((file) => file.immutable, "assets/")],
      destinationBucket: this.siteBucket,
      destinationKeyPrefix: "assets/",
      cacheControl: [CacheControl.setPublic(), CacheControl.maxAge(Duration.days(365)), CacheControl.immutable()],
      memoryLimit: 512,
    });
    const page = new BucketDeployment(this, "DeployPage", {
      sources: [consoleSource((file) => !file.immutable, ""), Source.jsonData("config.json", config)],
      destinationBucket: this.siteBucket,
      prune: false,
      cacheControl: [CacheControl.noCache()],
      distribution: this.distribution,
      distributionPaths: ["/index.html", "/config.json", "/"],
      memoryLimit: 512,
    });
    page.node.addDependency(assets);
    // CDK's BucketDeployment runs one function per stack (and memory size) for every deployment.
    for (const singleton of Stack.of(this).node.children.filter((child) =>
      child.node.id.startsWith("Custom::CDKBucketDeployment"),
    )) {
      acknowledge(
        singleton,
        "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
        "CDK's BucketDeployment function writes its own logs with the AWS-managed basic execution policy " +
          "(CloudWatch Logs only); it runs only while deploying.",
      );
      acknowledge(
        singleton,
        "L1",
        "CDK's BucketDeployment function runs the Python runtime aws-cdk-lib pins for it (it uses the AWS " +
          "CLI); it runs only while deploying and is replaced when aws-cdk-lib is upgraded.",
      );
      const copy =
        "CDK's BucketDeployment copies the built console from the CDK asset bucket into the console's bucket " +
        "while deploying";
      for (const action of ["s3:GetBucket*", "s3:GetObject*", "s3:List*"])
        acknowledge(
          singleton,
          `IAM5[Action::${action}]`,
          `${copy}: it reads the asset (CDK grants the read action group).`,
        );
      for (const action of ["s3:Abort*", "s3:DeleteObject*"])
        acknowledge(
          singleton,
          `IAM5[Action::${action}]`,
          `${copy}: it replaces and prunes the console's files (CDK grants the write action group).`,
        );
      acknowledge(
        singleton,
        "IAM5[Resource::arn:<AWS::Partition>:s3:::" +
          `cdk-${DefaultStackSynthesizer.DEFAULT_QUALIFIER}-assets-<AWS::AccountId>-<AWS::Region>/*]`,
        `${copy}: the asset's key is a content hash in CDK's bootstrap bucket.`,
      );
      acknowledge(
        singleton,
        wildcardObjects(this.siteBucket, "*"),
        `${copy}: every object of the console's bucket, which holds nothing else.`,
      );
      acknowledge(
        singleton,
        WILDCARD_RESOURCE,
        `${copy}, then invalidates the page and its config.json in the distribution: CloudFront's ` +
          "CreateInvalidation and GetInvalidation take no resource narrower than *.",
      );
    }
  }

  /**
   * The console's security headers: the page may load only its own files and talk only to the API, S3
   * (presigned links) and Cognito (sign-in, credentials); no framing; HTTPS for a year.
   */
  private securityHeaders(region: string): ResponseHeadersPolicy {
    const { signInDomainPrefix } = this.props;
    const connect = [
      "'self'",
      `https://*.execute-api.${region}.${Aws.URL_SUFFIX}`,
      // The presigned links' host is <bucket>.s3.<region>: naming the buckets here would make the buckets'
      // CORS rules (which name the distribution) and the distribution depend on each other.
      `https://*.s3.${region}.${Aws.URL_SUFFIX}`,
      `https://cognito-identity.${region}.${Aws.URL_SUFFIX}`,
      `https://${signInDomainPrefix}.auth.${region}.amazoncognito.com`,
    ];
    return new ResponseHeadersPolicy(this, "SecurityHeaders", {
      comment: "cellseg web console: CSP, HSTS, no framing, no sniffing",
      securityHeadersBehavior: {
        contentSecurityPolicy: {
          contentSecurityPolicy: [
            "default-src 'self'",
            `connect-src ${connect.join(" ")}`,
            "img-src 'self' blob: data:",
            "style-src 'self'",
            "script-src 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            `form-action 'self' https://${signInDomainPrefix}.auth.${region}.amazoncognito.com`,
          ].join("; "),
          override: true,
        },
        strictTransportSecurity: { accessControlMaxAge: Duration.days(365), includeSubdomains: true, override: true },
        contentTypeOptions: { override: true },
        frameOptions: { frameOption: HeadersFrameOption.DENY, override: true },
        referrerPolicy: { referrerPolicy: HeadersReferrerPolicy.NO_REFERRER, override: true },
      },
    });
  }
}

/** Files of the built console (console/, bundled with esbuild at synthesis), those `keep` picks, without `prefix`. */
function consoleSource(keep: (file: ConsoleFile) => boolean, prefix: string): ISource {
  return Source.asset(repositoryPath("console"), {
    // The bundle also takes modules from core/: its hash is the output's, not console/'s.
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      // Never used: the local build always runs (esbuild is a dependency); CDK requires an image nonetheless.
      image: DockerImage.fromRegistry("public.ecr.aws/docker/library/node:22-slim"),
      local: {
        tryBundle(outputDir) {
          for (const file of buildConsoleSync().filter(keep)) {
            const target = path.join(outputDir, file.path.slice(prefix.length));
            mkdirSync(path.dirname(target), { recursive: true });
            writeFileSync(target, file.body);
          }
          return true;
        },
      },
    },
  });
}

/**
 * Synthesizes the app for the infra tests, with cdk.json's feature flags and a test's own context, but
 * - without bundling the functions (esbuild and `npm ci` per function take seconds; cdk-synth.test.ts runs
 *   the real synthesis),
 * - without staging assets (the model image's build context is 30 MB; model-image.test.ts stages it once),
 * - without CDK's built-in CloudFormation schema validation (seconds of WebAssembly per synthesis; the
 *   real synthesis runs it).
 * cdk-nag's checks still run: an unacknowledged finding fails the synthesis.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { CfnElement, Stack } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import type { IConstruct } from "constructs";
import { afterAll } from "vitest";
import { createCellsegApp, type CellsegApp } from "../../infra/cellseg-app";
import { repositoryPath } from "../../infra/repository";

const cdkJson = JSON.parse(readFileSync(repositoryPath("cdk.json"), "utf8")) as { context: Record<string, unknown> };

export interface Synthesized extends CellsegApp {
  readonly template: Template;
}

const outdirs: string[] = [];
afterAll(() => {
  for (const outdir of outdirs.splice(0)) rmSync(outdir, { recursive: true, force: true });
});

/** A fresh output directory, removed after the test file. */
export function temporaryOutdir(): string {
  const outdir = mkdtempSync(path.join(tmpdir(), "cellseg-infra-"));
  outdirs.push(outdir);
  return outdir;
}

const cache = new Map<string, Synthesized>();

/**
 * The synthesized app for a context, built once per test file and context (its template is only read).
 *
 * @example
 * ```ts
 * const { template } = synthesize({ endpointMode: "async" });
 * template.resourceCountIs("AWS::SageMaker::Endpoint", 1);
 * ```
 */
export function synthesize(context: Record<string, unknown> = {}): Synthesized {
  const key = JSON.stringify(context);
  const cached = cache.get(key);
  if (cached) return cached;
  const built = createApp(context);
  const synthesized = { ...built, template: Template.fromStack(built.stack) };
  cache.set(key, synthesized);
  return synthesized;
}

/** The app before synthesis, for what happens at construction (bad configuration) or at synthesis. */
export function createApp(context: Record<string, unknown> = {}, options: { stageAssets?: boolean } = {}): CellsegApp {
  return createCellsegApp({
    outdir: temporaryOutdir(),
    context: {
      ...cdkJson.context,
      "aws:cdk:bundling-stacks": [],
      ...(options.stageAssets ? {} : { "aws:cdk:disable-asset-staging": true }),
      ...context,
    },
    builtinCloudFormationValidation: false,
  });
}

/** The logical id of a construct's CloudFormation resource, to find it (or references to it) in the template. */
export function logicalId(construct: IConstruct): string {
  const element = CfnElement.isCfnElement(construct) ? construct : (construct.node.defaultChild as CfnElement);
  return Stack.of(construct).getLogicalId(element);
}

/** `{ Ref: logicalId }` */
export const ref = (construct: IConstruct) => ({ Ref: logicalId(construct) });

/** `{ "Fn::GetAtt": [logicalId, attribute] }` */
export const getAtt = (construct: IConstruct, attribute: string) => ({
  "Fn::GetAtt": [logicalId(construct), attribute],
});

/** One permission: an action on a resource, under a condition. */
export interface Permission {
  readonly action: string;
  readonly resource: unknown;
  readonly condition?: unknown;
}

interface PolicyStatementJson {
  readonly Effect: string;
  readonly Action: string | string[];
  readonly Resource: unknown;
  readonly Condition?: unknown;
}

const asArray = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);

/**
 * Every Allow of a role's policies, one entry per action and resource, sorted: statements CDK merged or
 * split compare equal, so a test can assert the exact set of permissions.
 */
export function permissionsOf(template: Template, role: IConstruct): string[] {
  const roleId = logicalId(role);
  const policies = Object.values(template.findResources("AWS::IAM::Policy")) as {
    Properties: { Roles: unknown[]; PolicyDocument: { Statement: PolicyStatementJson[] } };
  }[];
  const statements = policies
    .filter((policy) => policy.Properties.Roles.some((r) => JSON.stringify(r) === JSON.stringify({ Ref: roleId })))
    .flatMap((policy) => policy.Properties.PolicyDocument.Statement);
  return permissionKeys(statements.filter((statement) => statement.Effect === "Allow"));
}

/** The same form, for expected permissions. */
export function permissions(stack: Stack, expected: readonly Permission[]): string[] {
  return permissionKeys(
    expected.map((p) => ({
      Effect: "Allow",
      Action: p.action,
      Resource: stack.resolve(p.resource),
      ...(p.condition ? { Condition: p.condition } : {}),
    })),
  );
}

function permissionKeys(statements: readonly PolicyStatementJson[]): string[] {
  const keys = statements.flatMap((statement) =>
    asArray(statement.Action).flatMap((action) =>
      asArray(statement.Resource).map((resource) =>
        JSON.stringify({ action, resource, condition: statement.Condition ?? null }),
      ),
    ),
  );
  return [...new Set(keys)].sort();
}

/** Every (action, resource) of every policy in the template, CDK's own included. */
export function allPermissions(template: Template): { action: string; resource: unknown }[] {
  const policies = Object.values(template.findResources("AWS::IAM::Policy")) as {
    Properties: { PolicyDocument: { Statement: PolicyStatementJson[] } };
  }[];
  return policies.flatMap((policy) =>
    policy.Properties.PolicyDocument.Statement.flatMap((statement) =>
      asArray(statement.Action).flatMap((action) =>
        asArray(statement.Resource).map((resource) => ({ action, resource })),
      ),
    ),
  );
}

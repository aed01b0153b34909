/**
 * cdk-nag 3 reports through CDK's validation plugins (not annotations): a finding that is not acknowledged
 * on its resource or a parent stops `app.synth()`. These tests run the AWS Solutions pack on the stack
 * directly, for each shape the configuration can give it.
 */
import { Validations } from "aws-cdk-lib";
import { Bucket } from "aws-cdk-lib/aws-s3";
import { AwsSolutionsChecks } from "cdk-nag";
import type { IConstruct } from "constructs";
import { describe, expect, it } from "vitest";
import { createApp, synthesize } from "./synth";

const SHAPES: Record<string, Record<string, unknown>> = {
  "realtime (defaults)": {},
  "async, with alarm email": { endpointMode: "async", alarmEmail: "ops@example.com" },
  "without API Gateway's CloudWatch role": { apiCloudWatchRole: "false", lambdaArchitecture: "x86_64" },
};

interface Acknowledgement {
  readonly path: string;
  readonly id: string;
  readonly reason: string;
}

/** Every acknowledgement recorded in the construct tree, with the construct it is on. */
function acknowledgementsUnder(root: IConstruct): Acknowledgement[] {
  return root.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) => Object.entries(entry.data as Record<string, string>))
      .map(([id, reason]) => ({ path: construct.node.path, id: id.replace(/^Annotation::/i, ""), reason })),
  );
}

/** The pack's findings as if nothing were acknowledged (the pack's acknowledgement check is bypassed). */
function rawFindings(root: IConstruct): { ruleName: string; paths: string[] }[] {
  const pack = new AwsSolutionsChecks();
  (pack as unknown as { isAcknowledged: () => boolean }).isAcknowledged = () => false;
  return pack.validateScope(root).violations.map((violation) => ({
    ruleName: violation.ruleName,
    paths: violation.violatingResources.map((resource) => resource.constructPath ?? ""),
  }));
}

describe.each(Object.entries(SHAPES))("cdk-nag AwsSolutions, %s", (_, context) => {
  const { stack } = synthesize(context);

  it("finds nothing that is not acknowledged, errors or warnings", () => {
    expect(new AwsSolutionsChecks().validateScope(stack).violations).toEqual([]);
  });

  it("acknowledges only findings that exist, on the construct that has them", () => {
    // Prepare
    const findings = rawFindings(stack);

    // Assess
    const stale = acknowledgementsUnder(stack).filter(
      ({ path, id }) =>
        !findings.some(
          (finding) =>
            finding.ruleName === id && finding.paths.some((resourcePath) => resourcePath.startsWith(`${path}/`)),
        ),
    );
    expect(stale).toEqual([]);
  });

  it("gives every acknowledgement a specific reason", () => {
    for (const { id, reason } of acknowledgementsUnder(stack)) {
      expect(reason.length, `${id}: ${reason}`).toBeGreaterThanOrEqual(80);
    }
  });
});

describe("cdk-nag at synthesis", () => {
  it("stops the synthesis on a finding nobody acknowledged", () => {
    // Prepare
    const { app, stack } = createApp();
    new Bucket(stack, "Unchecked");

    // Act, Assess
    expect(() => app.synth()).toThrow(/AwsSolutions-S1[\s\S]*Cellseg\/Unchecked/);
  });
});

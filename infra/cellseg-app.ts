/**
 * Builds the CDK app: the validated configuration, the stack, and the cdk-nag AWS Solutions checks, which
 * stop synthesis on any finding not acknowledged with a reason. `infra/app.ts` runs it for the CDK CLI;
 * tests call it with their own context.
 */
import { App, Validations, type AppProps } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import { loadInfraConfig, type InfraConfig } from "./config";
import { CellsegStack } from "./stacks/cellseg-stack";

export interface CellsegApp {
  readonly app: App;
  readonly config: InfraConfig;
  readonly stack: CellsegStack;
}

/**
 * @throws ConfigError when a context value is bad.
 * @example
 * ```ts
 * const { app, stack } = createCellsegApp({ context: { endpointMode: "async" } });
 * const template = Template.fromStack(stack);
 * ```
 */
export function createCellsegApp(props: AppProps = {}): CellsegApp {
  const app = new App(props);
  const config = loadInfraConfig(app.node.getAllContext());
  const stack = new CellsegStack(app, config.stackName, {
    config,
    description:
      "cellseg: serverless segmentation of neuronal cells in microscopy images " + `(${config.endpointMode} endpoint)`,
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, config, stack };
}

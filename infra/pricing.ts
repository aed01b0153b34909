/**
 * The prices the stack passes to the API (which reports each job's compute cost) and that the README's cost
 * estimate uses: on-demand list prices in us-east-1, in USD. They are a snapshot taken when this table was
 * written, not a live price list: check https://aws.amazon.com/sagemaker/pricing/ and
 * https://aws.amazon.com/lambda/pricing/ before relying on them, and override the endpoint's price with
 * `-c endpointUsdPerHour=...` for another region or instance type.
 */

/** SageMaker real-time and asynchronous inference, per instance-hour, for the GPU instance types we size for. */
export const SAGEMAKER_INSTANCE_USD_PER_HOUR: Readonly<Partial<Record<string, number>>> = {
  "ml.g4dn.xlarge": 0.7364,
  "ml.g4dn.2xlarge": 0.94,
  "ml.g5.xlarge": 1.408,
  "ml.g5.2xlarge": 1.515,
};

export const LAMBDA_ARCHITECTURES = ["arm64", "x86_64"] as const;
export type LambdaArchitecture = (typeof LAMBDA_ARCHITECTURES)[number];

/** Lambda compute, per GB-second (the first pricing tier); Graviton (arm64) is 20 % cheaper. */
export const LAMBDA_USD_PER_GB_SECOND: Readonly<Record<LambdaArchitecture, number>> = {
  arm64: 0.0000133334,
  x86_64: 0.0000166667,
};

/**
 * What one second of a function with this memory costs: Lambda bills memory in GB (1024 MB) times seconds.
 *
 * @example
 * ```ts
 * lambdaUsdPerSecond(3008, "arm64"); // 0.0000391669...
 * ```
 */
export function lambdaUsdPerSecond(memoryMb: number, architecture: LambdaArchitecture): number {
  return (memoryMb / 1024) * LAMBDA_USD_PER_GB_SECOND[architecture];
}

/**
 * A price as an environment variable: fixed-point, as the API's configuration parses it (no exponent).
 *
 * @example
 * ```ts
 * priceVariable(0.0000391669); // "0.0000391669"
 * ```
 */
export function priceVariable(usd: number): string {
  return usd.toFixed(10).replace(/\.?0+$/, "");
}

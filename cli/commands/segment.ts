import { Command, InvalidArgumentError, Option } from "commander";
import { PROFILES, type Profile } from "../../core/schemas/manifest";
import { EXECUTION_PROVIDERS, type ExecutionProviderChoice } from "../../inference/types";
import { segmentFiles } from "../segment-files";

export function segmentCommand(): Command {
  return new Command("segment")
    .description("segment images (PNG, TIFF, JPEG) or folders of them; writes submission.csv and per-image results")
    .argument("<inputs...>", "image files or folders (searched recursively)")
    .requiredOption("--out <dir>", "output folder")
    .addOption(
      new Option(
        "--profile <profile>",
        "fast: one member, no TTA; accurate: every member with flips (default: the model's better one on validation)",
      ).choices(PROFILES),
    )
    .addOption(
      new Option("--pages <pages>", "multi-page TIFF: segment the first page or every page")
        .choices(["first", "all"])
        .default("first"),
    )
    .addOption(new Option("--overlay <style>", "overlay style").choices(["outline", "tint"]).default("outline"))
    .option(
      "--model-dir <dir>",
      "model directory with manifest.json (default: /opt/ml/model if present, else the bundled models)",
    )
    .addOption(new Option("--device <provider>", "execution provider").choices(EXECUTION_PROVIDERS).default("cpu"))
    .option("--threads <n>", "inference threads (default: all cores)", (v) => parsePositiveInt(v, "--threads"))
    .option(
      "--float32",
      "run the float32 detector and mask head on the CPU, not the int8 ones (the exact exported graphs)",
    )
    .option(
      "--pixel-size <um>",
      "micrometres per pixel: adds the _um and _um2 columns to measurements.csv (default: a TIFF's " +
        "resolution tags, else none)",
      parsePixelSize,
    )
    .action(async (inputs: string[], options) => {
      const summary = await segmentFiles({
        inputs,
        outDir: options.out,
        profile: options.profile as Profile | undefined,
        allPages: options.pages === "all",
        overlayStyle: options.overlay,
        modelDir: options.modelDir,
        executionProvider: options.device as ExecutionProviderChoice,
        threads: options.threads,
        float32: options.float32 === true,
        pixelSizeUm: options.pixelSize,
      });
      // Failed files were reported and skipped; a non-zero exit still tells a script that some did.
      if (summary.failed > 0 || summary.succeeded === 0) process.exitCode = 2;
    });
}

function parsePixelSize(value: string): number {
  const size = Number(value);
  if (!Number.isFinite(size) || size <= 0)
    throw new InvalidArgumentError(`--pixel-size must be a positive number of micrometres, got "${value}"`);
  return size;
}

function parsePositiveInt(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} must be a positive integer, got "${value}"`);
  return n;
}

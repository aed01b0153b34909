import { Command } from "commander";
import { CellsegInputError, ModelUnavailableError } from "../core/errors";
import { evalCommand } from "./commands/eval";
import { segmentCommand } from "./commands/segment";

const program = new Command()
  .name("cellseg")
  .description("Segment neuronal cells in phase-contrast microscopy images, and score segmentations.")
  .addCommand(segmentCommand())
  .addCommand(evalCommand());

try {
  await program.parseAsync(process.argv);
} catch (error) {
  // Errors about the user's input or models get one clear line; anything else is a bug and keeps its stack.
  const known =
    error instanceof CellsegInputError ||
    error instanceof ModelUnavailableError ||
    (error as NodeJS.ErrnoException).code === "ENOENT";
  console.error(`cellseg: ${known ? (error as Error).message : (error as Error).stack}`);
  process.exitCode = 1;
}

import { readFile } from "node:fs/promises";
import { Command } from "commander";
import { parseSubmissionCsv, parseTrainingCsv } from "../../core/kaggle/csv";
import { evaluateSubmission, formatEvaluationReport } from "../../core/metric/evaluate";

export function evalCommand(): Command {
  return new Command("eval")
    .description("score a submission with the competition metric (mAP over IoU 0.50-0.95), per cell type and overall")
    .requiredOption("--truth <csv>", "ground truth in train.csv format (id,annotation,width,height,cell_type)")
    .requiredOption("--pred <csv>", "predictions in submission.csv format (id,predicted)")
    .option("--ids <file>", "score only the image ids listed in this file (one per line), e.g. a validation split")
    .action(async (options) => {
      const truth = parseTrainingCsv(await readFile(options.truth));
      const predictions = parseSubmissionCsv(await readFile(options.pred));
      if (options.ids) {
        const wanted = new Set(
          (await readFile(options.ids, "utf8"))
            .split(/\r?\n/)
            .map((l) => l.trim())
            .filter(Boolean),
        );
        const unknown = [...wanted].filter((id) => !truth.has(id));
        if (unknown.length)
          throw new Error(`${options.ids} names ${unknown.length} image(s) not in the truth, e.g. ${unknown[0]}`);
        for (const id of [...truth.keys()]) if (!wanted.has(id)) truth.delete(id);
      }
      const report = evaluateSubmission(truth, predictions);
      for (const line of formatEvaluationReport(report)) console.log(line);
    });
}

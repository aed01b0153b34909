import { mkdir, mkdtemp, readFile, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import sharp from "sharp";
import { beforeAll, describe, expect, it } from "vitest";
import { decodeImage } from "../../core/image/decode";
import { parse } from "csv-parse/sync";
import { parseSubmissionCsv } from "../../core/kaggle/csv";
import { maskPixelIndices } from "../../core/masks/binary-mask";
import { decodeCocoRle } from "../../core/masks/coco-rle";
import { decodeKaggleRle } from "../../core/masks/kaggle-rle";
import { REPO_ROOT, TRAIN_IMAGES, runCli, type CliResult } from "./helpers";

// A held-out shsy5y image: the densest cell type, so overlaps between candidates are certain.
const IMAGE_ID = "2025512a5956";

describe("cellseg segment (committed model, real image)", () => {
  let out: string;
  let result: CliResult;

  beforeAll(async () => {
    // Prepare
    const dir = await mkdtemp(path.join(tmpdir(), "cellseg-cli-"));
    out = path.join(dir, "out");
    // A folder as a user would give it: a nested sub-folder, the real image as a symbolic link into the
    // shared data (never copied), and two broken files.
    const input = path.join(dir, "in");
    await mkdir(path.join(input, "plate-1"), { recursive: true });
    const png = await readFile(path.join(TRAIN_IMAGES, `${IMAGE_ID}.png`));
    await symlink(path.join(TRAIN_IMAGES, `${IMAGE_ID}.png`), path.join(input, "plate-1", `${IMAGE_ID}.png`));
    await writeFile(path.join(input, "corrupt.png"), Buffer.from("this is not an image"));
    await writeFile(path.join(input, "truncated.png"), png.subarray(0, png.length / 3));
    // Files that are not images this reads, and a hidden one.
    await writeFile(path.join(input, "plate-1", "thumbnail.gif"), Buffer.from("GIF89a"));
    await writeFile(path.join(input, "notes.txt"), "plate layout");
    await writeFile(path.join(input, ".DS_Store"), Buffer.alloc(8));

    // Act
    result = await runCli(["segment", input, "--out", out, "--pixel-size", "0.65"]);
  });

  it("reports and skips bad files without aborting the batch, exiting 2", async () => {
    const report = JSON.parse(await readFile(path.join(out, "report.json"), "utf8"));
    expect(result.code).toBe(2);
    expect(report.succeeded).toBe(1);
    expect(report.failures.map((f: { file: string }) => path.basename(f.file)).sort()).toEqual([
      "corrupt.png",
      "truncated.png",
    ]);
    expect(result.stderr).toMatch(/skipped .*corrupt\.png/);
  });

  it("lists the folder's files that are not images it reads, without counting them as failures", async () => {
    const report = JSON.parse(await readFile(path.join(out, "report.json"), "utf8"));
    expect(report.ignored.map((f: { file: string }) => path.basename(f.file)).sort()).toEqual([
      "notes.txt",
      "thumbnail.gif",
    ]);
    expect(report.ignored[0].reason).toMatch(/not a PNG, TIFF or JPEG file name/);
    expect(report.failed).toBe(2);
  });

  it("writes a Kaggle submission whose instances are real cells and never overlap", async () => {
    const submission = parseSubmissionCsv(await readFile(path.join(out, "submission.csv")));
    const rles = submission.get(IMAGE_ID)!.annotations;
    expect(rles.length).toBeGreaterThan(20);
    const owner = new Uint8Array(704 * 520);
    for (const rle of rles) {
      for (const pixel of maskPixelIndices(decodeKaggleRle(rle, 704, 520))) {
        expect(owner[pixel]).toBe(0);
        owner[pixel] = 1;
      }
    }
  });

  it("writes COCO RLEs, a 16-bit label image and an overlay that agree with the submission", async () => {
    // Prepare
    const rles = parseSubmissionCsv(await readFile(path.join(out, "submission.csv"))).get(IMAGE_ID)!.annotations;
    const coco = JSON.parse(await readFile(path.join(out, `${IMAGE_ID}.coco.json`), "utf8"));
    const labels = await decodeImage(await readFile(path.join(out, `${IMAGE_ID}.labels.png`)));
    const overlay = await sharp(path.join(out, `${IMAGE_ID}.overlay.png`)).metadata();

    // Assess
    expect(coco.annotations).toHaveLength(rles.length);
    coco.annotations.forEach(
      (annotation: { segmentation: { size: [number, number]; counts: string }; area: number }, i: number) => {
        const fromCoco = maskPixelIndices(decodeCocoRle(annotation.segmentation));
        const fromKaggle = maskPixelIndices(decodeKaggleRle(rles[i], 704, 520));
        expect(fromCoco).toEqual(fromKaggle);
        expect(annotation.area).toBe(fromKaggle.length);
      },
    );
    expect(labels.bitDepth).toBe(16);
    expect(Array.from(labels.pixels).reduce((a, b) => Math.max(a, b), 0)).toBe(rles.length);
    expect(overlay).toMatchObject({ width: 704, height: 520, channels: 3, format: "png" });
  });

  it(
    "writes a measurements row per cell, named by its label, in pixels and micrometres; a summary row per image; " +
      "the outlines",
    async () => {
      // Prepare
      const rows = parse(await readFile(path.join(out, "measurements.csv")), { columns: true }) as Record<
        string,
        string
      >[];
      const [summary, ...others] = parse(await readFile(path.join(out, "summary.csv")), { columns: true }) as Record<
        string,
        string
      >[];
      const labels = await decodeImage(await readFile(path.join(out, `${IMAGE_ID}.labels.png`)));
      const outlines = JSON.parse(await readFile(path.join(out, `${IMAGE_ID}.geojson`), "utf8"));

      // Assess
      const areas = new Map<number, number>();
      for (const label of labels.pixels) if (label > 0) areas.set(label, (areas.get(label) ?? 0) + 1);
      expect(rows.map((row) => [Number(row.cell_id), Number(row.area_px)])).toEqual(
        [...areas.entries()].sort((a, b) => a[0] - b[0]),
      );
      for (const row of rows) {
        // One cell type per image: the model's verdict for the whole image.
        expect(row).toMatchObject({ image_id: IMAGE_ID, cell_type: rows[0]!.cell_type, pixel_size_um: "0.65" });
        expect(Number(row.area_um2)).toBeCloseTo(Number(row.area_px) * 0.65 ** 2, 3);
        expect(Number(row.solidity)).toBeLessThanOrEqual(1);
      }
      expect(others).toEqual([]);
      expect(summary).toMatchObject({
        image_id: IMAGE_ID,
        cell_type: rows[0]!.cell_type,
        cell_count: String(rows.length),
        [`count_${rows[0]!.cell_type}`]: String(rows.length),
        pixel_size_um: "0.65",
      });
      expect(outlines.type).toBe("FeatureCollection");
      expect(
        outlines.features.map((feature: { properties: { cell_id: number } }) => feature.properties.cell_id),
      ).toEqual(rows.map((row) => Number(row.cell_id)));
    },
  );
});

describe("cellseg segment --pixel-size", () => {
  it("refuses a pixel size that is not a positive number before reading any image", async () => {
    const refused = await runCli([
      "segment",
      path.join(TRAIN_IMAGES, `${IMAGE_ID}.png`),
      "--out",
      path.join(tmpdir(), "never"),
      "--pixel-size",
      "-1",
    ]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/--pixel-size must be a positive number of micrometres, got "-1"/);
  });
});

describe("cellseg eval", () => {
  it("scores a submission against train.csv, with `mAP <value>` as the last line", async () => {
    // Prepare
    const dir = await mkdtemp(path.join(tmpdir(), "cellseg-eval-"));
    const ids = path.join(dir, "ids.txt");
    await writeFile(ids, `${IMAGE_ID}\n`);
    const truth = path.join(REPO_ROOT, "..", "shared", "data", "sartorius", "train", "train.csv");
    const out = path.join(dir, "out");
    // The exact float32 graph (the other runs use the CPU's default, the int8 detector).
    const segmented = await runCli(["segment", path.join(TRAIN_IMAGES, `${IMAGE_ID}.png`), "--out", out, "--float32"]);
    expect(segmented.code, segmented.stderr).toBe(0);

    // Act
    const result = await runCli(["eval", "--truth", truth, "--pred", path.join(out, "submission.csv"), "--ids", ids]);

    // Assess
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split("\n");
    expect(lines.at(-1)).toMatch(/^mAP 0\.\d{4}$/);
    expect(Number(lines.at(-1)!.split(" ")[1])).toBeGreaterThan(0.05);
    expect(result.stdout).toMatch(/shsy5y/);
  });

  it("gives a perfect score to the truth itself", async () => {
    // Prepare
    const dir = await mkdtemp(path.join(tmpdir(), "cellseg-eval-"));
    const truthText = await readFile(
      path.join(REPO_ROOT, "..", "shared", "data", "sartorius", "train", "train.csv"),
      "utf8",
    );
    const rows = truthText
      .split(/\r?\n/)
      .filter((line) => line.startsWith(IMAGE_ID) || line.startsWith("0140b3c8f445"));
    await writeFile(path.join(dir, "truth.csv"), `id,annotation,width,height,cell_type\n${rows.join("\n")}\n`);
    await writeFile(
      path.join(dir, "pred.csv"),
      `id,predicted\n${rows.map((r) => r.split(",").slice(0, 2).join(",")).join("\n")}\n`,
    );

    // Act
    const result = await runCli(["eval", "--truth", path.join(dir, "truth.csv"), "--pred", path.join(dir, "pred.csv")]);

    // Assess
    expect(result.stdout.trim().split("\n").at(-1)).toBe("mAP 1.0000");
  });

  it("fails with a clear message on a malformed submission", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "cellseg-eval-"));
    await writeFile(path.join(dir, "pred.csv"), `id,predicted\n${IMAGE_ID},1 2 3\n`);
    const truth = path.join(REPO_ROOT, "..", "shared", "data", "sartorius", "train", "train.csv");
    const result = await runCli(["eval", "--truth", truth, "--pred", path.join(dir, "pred.csv")]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/odd|pairs|RLE/i);
  });
});

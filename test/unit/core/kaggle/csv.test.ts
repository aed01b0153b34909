import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { InvalidFormatError } from "../../../../core/errors";
import {
  SUBMISSION_CSV_HEADER,
  formatSubmissionCsv,
  formatSubmissionRows,
  parseSubmissionCsv,
  parseTrainingCsv,
} from "../../../../core/kaggle/csv";
import { emptyMask, maskFromPixelIndices } from "../../../../core/masks/binary-mask";
import { sartoriusPath } from "../../../support/sartorius-data";

describe("parseTrainingCsv", () => {
  it("groups the rows by image with the image's size and cell type, ignoring extra columns", () => {
    // Prepare
    const text = [
      "id,annotation,width,height,cell_type,plate_time",
      "a,1 3,704,520,shsy5y,11h30m00s",
      "b,5 2 9 1,4,4,cort,",
      "a,10 2,704,520,shsy5y,11h30m00s",
      "",
    ].join("\n");

    // Act
    const images = parseTrainingCsv(text);

    // Assess
    expect([...images.keys()]).toEqual(["a", "b"]);
    expect(images.get("a")).toEqual({ width: 704, height: 520, cellType: "shsy5y", annotations: ["1 3", "10 2"] });
    expect(images.get("b")).toEqual({ width: 4, height: 4, cellType: "cort", annotations: ["5 2 9 1"] });
  });

  it("keeps an image whose only annotation is empty, with no annotations", () => {
    // Act
    const images = parseTrainingCsv("id,annotation,width,height,cell_type\na,,704,520,astro\n");

    // Assess
    expect(images.get("a")).toEqual({ width: 704, height: 520, cellType: "astro", annotations: [] });
  });

  it("reads the real train.csv: 381 images, 24,975 instances", () => {
    // Act
    const images = parseTrainingCsv(readFileSync(sartoriusPath("train", "train.csv")));

    // Assess
    const instances = [...images.values()].reduce((sum, image) => sum + image.annotations.length, 0);
    expect(images.size).toBe(381);
    expect(instances).toBe(24_975);
    expect(images.get("0030fd0e6378")).toMatchObject({ width: 704, height: 520, cellType: "shsy5y" });
  });

  const header = "id,annotation,width,height,cell_type";
  it.each([
    ["", /training CSV is empty/],
    ["id,annotation,width\na,1 1,4", /line 1: header lacks height, cell_type/],
    [`${header}\na,1 1,4,4,cort\nb,1 1,abc,4,cort`, /line 3: width "abc" is not a positive integer/],
    [`${header}\na,1 1,4,0,cort`, /line 2: height "0" is not a positive integer/],
    [`${header}\na,1 1,4,4,neuron`, /line 2: cell_type "neuron" is not one of shsy5y, astro, cort/],
    [`${header}\na,1 1,4,4,cort\na,2 1,5,4,cort`, /line 3: image a has width 5 here but 4 on an earlier line/],
    [`${header}\na,1 1,4,4,cort\na,2 1,4,4,astro`, /line 3: image a has cell_type astro here but cort/],
    [`${header}\n,1 1,4,4,cort`, /line 2: empty id/],
    [`${header}\na,1 1,4,4`, /Invalid Record Length.*line 2/],
    [`${header}\n"a,1 1,4,4,cort`, /Quote Not Closed/],
  ])("rejects %j", (text, message) => {
    expect(() => parseTrainingCsv(text)).toThrow(InvalidFormatError);
    expect(() => parseTrainingCsv(text)).toThrow(message);
  });
});

describe("parseSubmissionCsv", () => {
  it("groups the rows by image, an image with no cells having no annotations", () => {
    // Act
    const images = parseSubmissionCsv("id,predicted\r\na,1 3\r\nb,\r\na,9 2\r\n");

    // Assess
    expect(images).toEqual(
      new Map([
        ["a", { annotations: ["1 3", "9 2"] }],
        ["b", { annotations: [] }],
      ]),
    );
  });

  it.each([
    ["id,prediction\na,1 1", /submission CSV line 1: header lacks predicted/],
    ["id,predicted\n,1 1", /submission CSV line 2: empty id/],
  ])("rejects %j", (text, message) => {
    expect(() => parseSubmissionCsv(text)).toThrow(InvalidFormatError);
    expect(() => parseSubmissionCsv(text)).toThrow(message);
  });
});

describe("formatting a submission", () => {
  const square = { mask: maskFromPixelIndices([5, 6, 9, 10], 4, 4) };
  const wrapping = { mask: maskFromPixelIndices([3, 4], 4, 4) };

  it("writes one row per instance with its Kaggle RLE", () => {
    expect(formatSubmissionRows("a", [square, wrapping])).toBe("a,6 2 10 2\na,4 2\n");
  });

  it("writes exactly one row with an empty prediction for an image with no cells", () => {
    expect(formatSubmissionRows("a", [])).toBe("a,\n");
    expect(formatSubmissionRows("a", [{ mask: emptyMask(4, 4) }])).toBe("a,\n");
  });

  it("writes the header, then the rows of each image in order", () => {
    // Act
    const text = formatSubmissionCsv([
      { id: "a", instances: [square] },
      { id: "b", instances: [] },
    ]);

    // Assess
    expect(SUBMISSION_CSV_HEADER).toBe("id,predicted\n");
    expect(text).toBe("id,predicted\na,6 2 10 2\nb,\n");
  });

  it("quotes an id that would break the row, so that it parses back", () => {
    // Act
    const text = formatSubmissionCsv([{ id: 'odd,"id"', instances: [square] }]);

    // Assess
    expect(text).toBe('id,predicted\n"odd,""id""",6 2 10 2\n');
    expect(parseSubmissionCsv(text).get('odd,"id"')).toEqual({ annotations: ["6 2 10 2"] });
  });
});

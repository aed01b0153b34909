import { describe, expect, it } from "vitest";
import {
  flipModelInput,
  modelInput,
  percentileLut,
  percentiles,
  type InputNormalization,
} from "../../../../core/image/normalize";
import { InvalidImageError } from "../../../../core/errors";
import type { GrayImage } from "../../../../core/types";

function image(width: number, height: number, pixels: Uint8Array | Uint16Array): GrayImage {
  return { width, height, bitDepth: pixels instanceof Uint16Array ? 16 : 8, pixels };
}

function synthetic<T extends Uint8Array | Uint16Array>(
  Kind: { from(values: Iterable<number>): T },
  width: number,
  height: number,
  value: (x: number, y: number) => number,
): GrayImage {
  const values = Array.from({ length: width * height }, (_, i) => value(i % width, Math.floor(i / width)));
  return image(width, height, Kind.from(values));
}

/** Stretch by min and max, no standardisation: the output is the resized unit image. */
const IDENTITY: InputNormalization = {
  percentileLow: 0,
  percentileHigh: 100,
  mean: 0,
  std: 1,
  scale: 1,
  sizeDivisor: 1,
};

/** Channel 0 of a model input as rows of the scaled region. */
function scaledRows(input: ReturnType<typeof modelInput>): number[][] {
  return Array.from({ length: input.scaledHeight }, (_, y) =>
    Array.from(input.data.subarray(y * input.paddedWidth, y * input.paddedWidth + input.scaledWidth)),
  );
}

describe("percentiles", () => {
  it("interpolates between the middle values as np.percentile does", () => {
    expect(percentiles(image(4, 1, Uint8Array.of(4, 1, 3, 2)), [50])).toEqual([2.5]);
  });

  it("matches np.percentile(np.arange(100), [0, 0.5, 25, 50, 99.5, 100])", () => {
    // Prepare
    const ramp = image(
      10,
      10,
      Uint8Array.from({ length: 100 }, (_, i) => 99 - i),
    );

    // Act and Assess
    expect(percentiles(ramp, [0, 0.5, 25, 50, 99.5, 100])).toEqual([0, 0.495, 24.75, 49.5, 98.505, 99]);
  });

  it("handles 16-bit levels and repeated values", () => {
    // Prepare: sorted 1000, 1000, 1000, 60000
    const pixels = image(2, 2, Uint16Array.of(1000, 60000, 1000, 1000));

    // Act and Assess: virtual index 0.9 * 3 = 2.7 -> 1000 + 0.7 * 59000
    expect(percentiles(pixels, [90])[0]).toBeCloseTo(42300, 9);
  });
});

describe("percentileLut", () => {
  it("maps the percentiles to 0 and 1 and clips outside them", () => {
    // Prepare: 0.5th and 99.5th percentiles of 0..99 are 0.495 and 98.505
    const ramp = image(
      100,
      1,
      Uint8Array.from({ length: 100 }, (_, i) => i),
    );

    // Act
    const lut = percentileLut(ramp, 0.5, 99.5);

    // Assess
    expect([lut[0], lut[99], lut[255]]).toEqual([0, 1, 1]);
    expect(lut[50]).toBeCloseTo((50 - 0.495) / (98.505 - 0.495), 6);
  });

  it("divides by at least 1 for a flat image", () => {
    // Act
    const lut = percentileLut(image(2, 1, Uint8Array.of(7, 7)), 0.5, 99.5);

    // Assess
    expect([lut[7], lut[8], lut[9]]).toEqual([0, 1, 1]);
  });
});

describe("modelInput resizing", () => {
  it("upsamples 2x2 to 4x4 as torch's bilinear with align_corners=False", () => {
    // Prepare: [[0, 1], [2, 3]] stretched to [0, 1] by min and max
    const square = image(2, 2, Uint8Array.of(0, 1, 2, 3));

    // Act
    const input = modelInput(square, { ...IDENTITY, scale: 2 });

    // Assess: torch's values, divided by 3 for the stretch
    const torch = [
      [0, 0.25, 0.75, 1],
      [0.5, 0.75, 1.25, 1.5],
      [1.5, 1.75, 2.25, 2.5],
      [2, 2.25, 2.75, 3],
    ];
    for (const [y, row] of scaledRows(input).entries()) {
      for (const [x, value] of row.entries()) expect(value).toBeCloseTo(torch[y][x] / 3, 6);
    }
  });

  it("downsamples 5 to 3 columns as torch does", () => {
    // Prepare
    const row = image(5, 1, Uint8Array.of(0, 1, 2, 3, 4));

    // Act
    const input = modelInput(row, { ...IDENTITY, scale: 0.6 });

    // Assess: torch gives [0.3333, 2, 3.6667], divided by 4 for the stretch
    expect(input).toMatchObject({ scaledWidth: 3, scaledHeight: 1 });
    for (const [x, value] of scaledRows(input)[0].entries()) expect(value).toBeCloseTo([1 / 3, 2, 11 / 3][x] / 4, 6);
  });

  it("rounds half sizes to even as Python's round does", () => {
    // Act: 25 * 0.5 = 12.5 -> 12, 9 * 0.5 = 4.5 -> 4, 3 * 1.5 = 4.5 -> 4, 5 * 1.5 = 7.5 -> 8
    const down = modelInput(image(9, 25, new Uint8Array(225)), { ...IDENTITY, scale: 0.5 });
    const up = modelInput(image(5, 3, new Uint8Array(15)), { ...IDENTITY, scale: 1.5 });

    // Assess
    expect([down.scaledHeight, down.scaledWidth, up.scaledHeight, up.scaledWidth]).toEqual([12, 4, 4, 8]);
  });

  it("refuses an image that scales to nothing", () => {
    expect(() => modelInput(image(1, 1, Uint8Array.of(0)), { ...IDENTITY, scale: 0.4 })).toThrow(InvalidImageError);
  });
});

describe("modelInput layout", () => {
  const norm: InputNormalization = { ...IDENTITY, mean: 0.5, std: 0.25, scale: 1.5, sizeDivisor: 32 };
  const input = modelInput(
    image(
      17,
      13,
      Uint8Array.from({ length: 221 }, (_, i) => i),
    ),
    norm,
  );
  const plane = input.paddedHeight * input.paddedWidth;

  it("pads the scaled size up to multiples of the divisor", () => {
    expect(input).toMatchObject({ scaledHeight: 20, scaledWidth: 26, paddedHeight: 32, paddedWidth: 32, scale: 1.5 });
    expect(input.data).toHaveLength(3 * 32 * 32);
  });

  it("fills the padding with zeros after standardisation", () => {
    // Prepare
    const padding = Array.from(input.data.subarray(0, plane)).filter((_, i) => i % 32 >= 26 || i >= 20 * 32);

    // Assess
    expect(padding).toHaveLength(32 * 32 - 20 * 26);
    expect(padding.every((value) => value === 0)).toBe(true);
  });

  it("repeats the image in 3 identical channels", () => {
    expect(input.data.subarray(plane, 2 * plane)).toEqual(input.data.subarray(0, plane));
    expect(input.data.subarray(2 * plane)).toEqual(input.data.subarray(0, plane));
  });

  it("standardises: the darkest pixel gives -mean / std", () => {
    expect(input.data[0]).toBe(-2);
  });
});

/**
 * Reference values from the training code's `model_input` (numpy 1.24, torch 1.13), made once with:
 *
 *   y, x = np.mgrid[0:13, 0:17]; u8 = ((x*37 + y*91 + ((x*x*7 + y*13) % 29)*5) % 256).astype(np.uint8)
 *   y, x = np.mgrid[0:25, 0:9]; u16 = ((x*4099 + y*911 + ((x*x*7 + y*13) % 29)*1500) % 65536).astype(np.uint16)
 *   out = model_input(pixels, cfg); c0 = out[0].double()
 *   shape, c0.sum(), (c0*c0).sum(), np.percentile(pixels.astype(np.float32), [low, high]), c0[y, x]
 */
const PYTHON_REFERENCE = [
  {
    name: "an 8-bit 17x13 image upscaled by 1.5",
    image: synthetic(Uint8Array, 17, 13, (x, y) => (x * 37 + y * 91 + ((x * x * 7 + y * 13) % 29) * 5) % 256),
    norm: { percentileLow: 0.5, percentileHigh: 99.5, mean: 0.5, std: 0.25, scale: 1.5, sizeDivisor: 32 },
    percentiles: [1, 251],
    shape: [32, 32, 20, 26],
    sum: -28.944345831871033,
    sumOfSquares: 389.8659494308531,
    entries: [
      [0, 0, -2.0],
      [0, 12, -0.24184608459472656],
      [1, 7, -0.8832385540008545],
      [1, 19, -1.092400074005127],
      [2, 0, 0.2800002098083496],
      [2, 14, 0.4261150360107422],
      [3, 7, 0.7670152187347412],
      [3, 21, 1.4350535869598389],
      [4, 2, 0.9840693473815918],
      [4, 14, 0.11679959297180176],
      [5, 9, 0.7350766658782959],
      [5, 21, -0.8304543495178223],
      [6, 2, 0.1558077335357666],
      [6, 16, -0.22826874256134033],
      [7, 11, 1.2476539611816406],
      [7, 23, -0.039692044258117676],
      [8, 4, -0.7727386951446533],
      [8, 18, 0.22092342376708984],
      [9, 11, 0.2793619632720947],
      [9, 25, 0.11679935455322266],
      [10, 6, -1.8308000564575195],
      [10, 18, -0.8323773145675659],
      [11, 13, 0.8880000114440918],
      [11, 25, -0.6319996118545532],
      [12, 6, -0.15200066566467285],
      [12, 20, 1.6933841705322266],
      [13, 1, -0.6937539577484131],
      [13, 13, -0.9776009321212769],
      [14, 8, 1.8000233173370361],
      [14, 22, -0.1919693946838379],
      [15, 3, -0.9258456230163574],
      [15, 15, 0.6115927696228027],
      [16, 10, 0.08523130416870117],
      [16, 22, -1.7391693592071533],
      [17, 3, 0.14873003959655762],
      [17, 17, 0.28661513328552246],
      [18, 10, -1.0623693466186523],
      [18, 24, 0.43089938163757324],
      [19, 5, -1.5864617824554443],
      [19, 17, -1.2913846969604492],
    ],
  },
  {
    name: "a 16-bit 9x25 image downscaled by 0.5",
    image: synthetic(Uint16Array, 9, 25, (x, y) => (x * 4099 + y * 911 + ((x * x * 7 + y * 13) % 29) * 1500) % 65536),
    norm: { percentileLow: 2, percentileHigh: 90, mean: 0.4, std: 0.3, scale: 0.5, sizeDivisor: 8 },
    percentiles: [1407.44, 59498.4],
    shape: [16, 8, 12, 4],
    sum: 29.471827909350395,
    sumOfSquares: 36.500100790297964,
    entries: [
      [0, 0, -0.24224011600017548],
      [0, 1, 0.4053380787372589],
      [0, 2, 0.5472277402877808],
      [0, 3, 0.9713592529296875],
      [1, 0, 0.03882487490773201],
      [1, 1, 0.3232709467411041],
      [1, 2, 1.2217053174972534],
      [1, 3, 0.719312310218811],
      [2, 0, -0.09524404257535934],
      [2, 1, 0.8782258033752441],
      [2, 2, 0.8987774848937988],
      [2, 3, 0.4495699107646942],
      [3, 0, 0.0956985279917717],
      [3, 1, 0.6141526103019714],
      [3, 2, 0.6309138536453247],
      [3, 3, 0.5486697554588318],
      [4, 0, -0.16837486624717712],
      [4, 1, 0.35007941722869873],
      [4, 2, 0.7348870038986206],
      [4, 3, 0.33789247274398804],
      [5, 0, 0.4645821154117584],
      [5, 1, 0.3850160837173462],
      [5, 2, -0.5479400753974915],
      [5, 3, 0.11313865333795547],
      [6, 0, 0.3045119643211365],
      [6, 1, 0.22494544088840485],
      [6, 2, -0.7000483870506287],
      [6, 3, -0.04693179950118065],
      [7, 0, 1.527156114578247],
      [7, 1, 1.8139146566390991],
      [7, 2, -0.703087329864502],
      [7, 3, -0.13628651201725006],
      [8, 0, 1.2714173793792725],
      [8, 1, 1.6791478395462036],
      [8, 2, 1.7007417678833008],
      [8, 3, 1.3149356842041016],
      [9, 0, 1.275823712348938],
      [9, 1, 1.4759248495101929],
      [9, 2, 1.53959059715271],
      [9, 3, 0.6901475787162781],
      [10, 0, 1.0942819118499756],
      [10, 1, 1.365975022315979],
      [10, 2, 0.9294452667236328],
      [10, 3, 0.4033313989639282],
      [11, 0, 0.908211350440979],
      [11, 1, 0.6267747282981873],
      [11, 2, 0.5632407069206238],
      [11, 3, 0.6738208532333374],
    ],
  },
] as const;

describe.each(PYTHON_REFERENCE)("parity with the PyTorch reference for $name", (reference) => {
  const input = modelInput(reference.image, reference.norm);
  const channel = Array.from(input.data.subarray(0, input.paddedHeight * input.paddedWidth));

  it("finds numpy's percentiles", () => {
    expect(percentiles(reference.image, [reference.norm.percentileLow, reference.norm.percentileHigh])).toEqual(
      reference.percentiles,
    );
  });

  it("has the reference's padded and scaled size", () => {
    expect([input.paddedHeight, input.paddedWidth, input.scaledHeight, input.scaledWidth]).toEqual(reference.shape);
  });

  it("matches the reference values to 1e-5", () => {
    // float32 rounding: the sums run in another order than torch's (2e-6 at most here).
    for (const [y, x, value] of reference.entries) {
      expect(Math.abs(input.data[y * input.paddedWidth + x] - value)).toBeLessThan(1e-5);
    }
  });

  it("matches the reference's sum and sum of squares", () => {
    expect(channel.reduce((sum, value) => sum + value, 0)).toBeCloseTo(reference.sum, 4);
    expect(channel.reduce((sum, value) => sum + value * value, 0)).toBeCloseTo(reference.sumOfSquares, 4);
  });
});

describe("flipModelInput", () => {
  // 3x2 scaled region inside 4x4 padding: rows [a b c .], [d e f .]
  const input = modelInput(image(3, 2, Uint8Array.of(0, 1, 2, 3, 4, 5)), { ...IDENTITY, std: 0.2, sizeDivisor: 4 });

  it("mirrors the scaled region left to right and keeps the padding at the right", () => {
    // Act
    const flipped = flipModelInput(input, "horizontal");

    // Assess
    expect(scaledRows(flipped)).toEqual([scaledRows(input)[0].reverse(), scaledRows(input)[1].reverse()]);
    expect(Array.from(flipped.data.subarray(0, 4))[3]).toBe(0);
  });

  it("mirrors the scaled region top to bottom and keeps the padding at the bottom", () => {
    // Act
    const flipped = flipModelInput(input, "vertical");

    // Assess
    expect(scaledRows(flipped)).toEqual(scaledRows(input).reverse());
    expect(flipped.data.subarray(8, 16).every((value) => value === 0)).toBe(true);
  });

  it("flips every channel and leaves the input untouched", () => {
    // Prepare
    const before = input.data.slice();

    // Act
    const flipped = flipModelInput(input, "horizontal");

    // Assess
    expect(flipped.data.subarray(16, 32)).toEqual(flipped.data.subarray(0, 16));
    expect(flipped.data.subarray(32)).toEqual(flipped.data.subarray(0, 16));
    expect(input.data).toEqual(before);
  });

  it("restores the input when applied twice", () => {
    expect(flipModelInput(flipModelInput(input, "vertical"), "vertical")).toEqual(input);
  });
});

/**
 * The domain's errors. Each says what was wrong with the input in words a user can act on; the HTTP and
 * CLI edges map them to status codes and messages in one place each.
 */

/** Base class: input the caller can fix (as opposed to a bug or an unavailable model). */
export class CellsegInputError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The bytes are not an image we can read (corrupt, truncated, unsupported format, empty). */
export class InvalidImageError extends CellsegInputError {}

/** The image is larger than the configured pixel limit. */
export class ImageTooLargeError extends CellsegInputError {}

/** A text input (CSV, RLE, JSON) is malformed. */
export class InvalidFormatError extends CellsegInputError {}

/** The model directory or manifest cannot be used (missing file, bad checksum, bad manifest). */
export class ModelUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ModelUnavailableError";
  }
}

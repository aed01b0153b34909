/** Failures of what the storage holds, as opposed to the storage itself (whose own errors pass as they are). */

/** A stored JSON document that does not match its schema (or is not JSON). */
export class StoredDocumentError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StoredDocumentError";
  }
}

/**
 * A grow-only typed array reused from one call to the next: code that handles each of the hundreds of cells
 * of a dense image in turn would otherwise allocate, and the collector free, fresh arrays for every cell.
 * Its users are synchronous, so no two uses of one overlap.
 */
export class ScratchArray<T extends Uint8Array | Int32Array | Float64Array> {
  readonly #create: (length: number) => T;
  #array: T;

  /**
   * @example
   * ```ts
   * const visited = new ScratchArray((length) => new Uint8Array(length));
   * const flags = visited.cleared(width * height);
   * ```
   */
  constructor(create: (length: number) => T) {
    this.#create = create;
    this.#array = create(0);
  }

  /** The array, at least `length` long, holding whatever its last use left. */
  atLeast(length: number): T {
    if (this.#array.length < length) this.#array = this.#create(Math.max(length, 2 * this.#array.length));
    return this.#array;
  }

  /** The array, at least `length` long, its first `length` elements zero. */
  cleared(length: number): T {
    const array = this.atLeast(length);
    array.fill(0, 0, length);
    return array;
  }
}

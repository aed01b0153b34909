/**
 * Which files are images the decoder reads, by name: shared by the decoder, the API's job requests and the
 * web console (a module of its own so that the browser bundle takes it without the image libraries).
 */

/** The file name extensions of the formats the decoder reads (PNG, TIFF, JPEG), lower case. */
export const IMAGE_EXTENSIONS = [".png", ".tif", ".tiff", ".jpg", ".jpeg"] as const;

/**
 * Whether a file name has one of {@link IMAGE_EXTENSIONS}, in any case.
 *
 * @example
 * ```ts
 * hasImageExtension("plate-1/A01.TIF"); // true
 * hasImageExtension("notes.txt");       // false
 * ```
 */
export function hasImageExtension(fileName: string): boolean {
  const dot = fileName.lastIndexOf(".");
  return (
    dot > fileName.lastIndexOf("/") &&
    (IMAGE_EXTENSIONS as readonly string[]).includes(fileName.slice(dot).toLowerCase())
  );
}

/**
 * What the user gave: dropped files and folders (walked recursively) or picked ones, each with the name it
 * will have in the job (its path inside the dropped or picked folder, `/`-separated), split into the images
 * the service reads and the rest.
 */
import { hasImageExtension } from "../../core/image/extensions";

export interface PickedFile {
  /** The name in the job: `plate-1/A01.tif` for a file of a dropped folder `plate-1`. */
  readonly name: string;
  readonly file: File;
}

/** Files picked with an `<input type="file">` (a folder's carry their path in `webkitRelativePath`). */
export function filesFromInput(files: FileList): PickedFile[] {
  return [...files].map((file) => ({ name: file.webkitRelativePath || file.name, file }));
}

/** Dropped files and folders; a folder's files are read recursively. */
export async function filesFromDrop(transfer: DataTransfer): Promise<PickedFile[]> {
  // The entries must be taken before the first await: the DataTransfer is emptied once the drop event returns.
  const entries = [...transfer.items]
    .map((item) => item.webkitGetAsEntry())
    .filter((entry): entry is FileSystemEntry => entry !== null);
  if (entries.length === 0) return [...transfer.files].map((file) => ({ name: file.name, file }));
  return (await Promise.all(entries.map((entry) => walk(entry, "")))).flat();
}

async function walk(entry: FileSystemEntry, prefix: string): Promise<PickedFile[]> {
  const name = prefix + entry.name;
  if (entry.isFile) {
    const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
    return [{ name, file }];
  }
  const reader = (entry as FileSystemDirectoryEntry).createReader();
  const children: FileSystemEntry[] = [];
  // readEntries answers in batches (100 in Chrome) until an empty one.
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
    if (batch.length === 0) break;
    children.push(...batch);
  }
  return (await Promise.all(children.map((child) => walk(child, `${name}/`)))).flat();
}

/**
 * The images (by extension; whether the bytes are an image the service says per file) and the files it
 * would not read, hidden files (`.DS_Store`) left out of both.
 */
export function splitImages(files: readonly PickedFile[]): { images: PickedFile[]; ignored: PickedFile[] } {
  const visible = files.filter((picked) => !picked.name.split("/").some((segment) => segment.startsWith(".")));
  const images = visible.filter((picked) => hasImageExtension(picked.name));
  return { images, ignored: visible.filter((picked) => !hasImageExtension(picked.name)) };
}

/**
 * Where a job starts: drop files or folders on the zone, or pick files or a folder with its buttons (the
 * keyboard's way in). Whatever is given becomes one job.
 */
import { useRef, useState } from "preact/hooks";
import { filesFromDrop, filesFromInput, type PickedFile } from "../file-picking";

export function UploadZone({ onFiles, busy }: { onFiles: (files: PickedFile[]) => void; busy: boolean }) {
  const [over, setOver] = useState(false);
  const filesInput = useRef<HTMLInputElement>(null);
  const folderInput = useRef<HTMLInputElement>(null);

  const picked = (input: HTMLInputElement) => {
    if (input.files?.length) onFiles(filesFromInput(input.files));
    input.value = "";
  };

  return (
    <section
      class={`upload-zone${over ? " over" : ""}`}
      aria-labelledby="upload-title"
      onDragOver={(event) => {
        event.preventDefault();
        setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={(event) => {
        event.preventDefault();
        setOver(false);
        if (event.dataTransfer) void filesFromDrop(event.dataTransfer).then(onFiles);
      }}
      data-testid="upload-zone"
    >
      <h2 id="upload-title">New job</h2>
      <p>Drop images or a folder here (PNG, TIFF, JPEG; a plate at once), or:</p>
      <div class="buttons">
        <button type="button" onClick={() => filesInput.current?.click()} disabled={busy}>
          Choose files…
        </button>
        <button type="button" onClick={() => folderInput.current?.click()} disabled={busy}>
          Choose a folder…
        </button>
      </div>
      <input
        ref={filesInput}
        type="file"
        multiple
        accept=".png,.tif,.tiff,.jpg,.jpeg,image/png,image/tiff,image/jpeg"
        hidden
        aria-label="Images to segment"
        onChange={(event) => picked(event.currentTarget)}
      />
      {/* webkitdirectory is the standard way to pick a folder in every current browser, but not in the DOM typings.
          Preact sets it as the input's boolean property, so it must be true: "" would turn it off. */}
      <input
        ref={folderInput}
        type="file"
        hidden
        aria-label="A folder of images to segment"
        {...{ webkitdirectory: true }}
        onChange={(event) => picked(event.currentTarget)}
      />
    </section>
  );
}

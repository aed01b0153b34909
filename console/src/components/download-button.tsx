/**
 * A result's download button: saves the result under the name the API gives it, and says on the spot why
 * a download failed. Shared by the job panel and the result viewer (a module of its own, so that neither
 * imports the other).
 */
import { useState } from "preact/hooks";
import type { ApiClient } from "../api-client";

export function DownloadButton({
  api,
  path,
  label,
  disabled = false,
}: {
  api: ApiClient;
  path: string;
  label: string;
  disabled?: boolean;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  return (
    <span class="download">
      <button
        type="button"
        disabled={disabled || busy}
        onClick={async () => {
          setBusy(true);
          setError(undefined);
          try {
            await api.download(path);
          } catch (caught) {
            setError(caught instanceof Error ? caught.message : String(caught));
          } finally {
            setBusy(false);
          }
        }}
      >
        ⤓ {label}
      </button>
      {error && (
        <span role="alert" class="error">
          {error}
        </span>
      )}
    </span>
  );
}

/** Asks for the local service's API_TOKEN when it refuses a request; the token lives until the tab closes. */
import { useEffect, useRef } from "preact/hooks";

export interface TokenRequest {
  readonly rejected: boolean;
  readonly answer: (token: string | undefined) => void;
}

export function TokenDialog({ request }: { request: TokenRequest | undefined }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (request && !dialog.current?.open) dialog.current?.showModal();
    if (!request && dialog.current?.open) dialog.current.close();
  }, [request]);

  return (
    <dialog ref={dialog} aria-labelledby="token-title" onCancel={() => request?.answer(undefined)}>
      <form
        method="dialog"
        onSubmit={(event) => {
          event.preventDefault();
          request?.answer(input.current?.value);
          if (input.current) input.current.value = "";
        }}
      >
        <h2 id="token-title">Access token</h2>
        <p>
          {request?.rejected
            ? "The service refused that token. Try again:"
            : "This service needs its access token (API_TOKEN)."}
        </p>
        <label>
          Token
          <input ref={input} type="password" name="token" autocomplete="off" required minLength={16} />
        </label>
        <p class="muted">Kept only until this tab closes.</p>
        <div class="buttons">
          <button type="submit">Continue</button>
          <button type="button" onClick={() => request?.answer(undefined)}>
            Cancel
          </button>
        </div>
      </form>
    </dialog>
  );
}

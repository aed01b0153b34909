/** Before the console: who may use it is decided by the deployment's user pool. */
import { useState } from "preact/hooks";

export function SignIn({ onSignIn, problem }: { onSignIn: () => Promise<void>; problem?: string }) {
  const [error, setError] = useState(problem);
  return (
    <main class="sign-in">
      <section aria-labelledby="sign-in-title">
        <h1 id="sign-in-title">cellseg web console</h1>
        <p>Sign in with the account your administrator created for you (email, password and a one-time code).</p>
        {error && (
          <p role="alert" class="error">
            {error}
          </p>
        )}
        <button
          type="button"
          onClick={() =>
            onSignIn().catch((caught: unknown) => setError(caught instanceof Error ? caught.message : String(caught)))
          }
        >
          Sign in
        </button>
      </section>
    </main>
  );
}

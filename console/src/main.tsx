/**
 * The web console's entry: reads `config.json` (where the API is, how to sign in), signs in where the
 * deployment asks for it (Cognito in AWS), then shows the console.
 */
import { render } from "preact";
import { consoleConfigSchema, type ConsoleConfig } from "./console-config";
import { CognitoAuth } from "./auth/cognito";
import { App } from "./components/app";
import { SignIn } from "./components/sign-in";
import "./styles.css";

async function start(root: HTMLElement): Promise<void> {
  let config: ConsoleConfig;
  try {
    const response = await fetch("config.json", { cache: "no-store" });
    if (!response.ok) throw new Error(`config.json: ${response.status} ${response.statusText}`);
    config = consoleConfigSchema.parse(await response.json());
  } catch (error) {
    root.textContent = `The console cannot start: ${error instanceof Error ? error.message : String(error)}`;
    return;
  }
  // Preact renders beside what is there: the loading note goes first.
  root.replaceChildren();
  if (config.auth.kind === "bearer") {
    render(<App config={config} />, root);
    return;
  }
  const cognito = config.auth;
  const signIn = () => CognitoAuth.signIn(cognito);
  let session: CognitoAuth | undefined;
  try {
    session = await CognitoAuth.resume(cognito);
  } catch (error) {
    render(<SignIn onSignIn={signIn} problem={error instanceof Error ? error.message : String(error)} />, root);
    return;
  }
  if (!session) {
    render(<SignIn onSignIn={signIn} />, root);
    return;
  }
  render(
    <App
      config={config}
      authenticator={session}
      account={{ name: session.userName, signOut: () => session.signOut() }}
    />,
    root,
  );
}

void start(document.getElementById("app")!);

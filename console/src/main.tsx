/**
 * The web console's entry: reads `config.json` (where the API is, how to sign in), signs in where the
 * deployment asks for it (Cognito in AWS), then shows the console.
 */
import { render } from "preact";
import { consoleConfigSchema, type ConsoleConfig } from "./console-config";
import { App } from "./components/app";
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
  render(<App config={config} />, root);
}

void start(document.getElementById("app")!);

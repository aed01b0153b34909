#!/usr/bin/env node
// The CLI is TypeScript run through tsx, so the repository needs no build step before `npx cellseg`.
import { register } from "tsx/esm/api";

register();
await import("../cli/main.ts");

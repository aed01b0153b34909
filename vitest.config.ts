import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Model inference on 2 cores takes seconds per image.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: "forks",
  },
});

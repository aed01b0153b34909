import { networkInterfaces } from "node:os";
import { describe, expect, it } from "vitest";
import { startModelServer } from "../support/model-server";

const external = Object.values(networkInterfaces())
  .flat()
  .find((address) => address?.family === "IPv4" && !address.internal);

// The model server has no authentication: started by the local stack it must not be reachable from other machines.
describe.skipIf(external === undefined)(
  "the model server the local stack starts (skipped: this machine has no external IPv4 address)",
  () => {
    it("listens on loopback only", async () => {
      // Prepare
      const server = await startModelServer();
      const port = new URL(server.url).port;
      try {
        // Act
        const local = await fetch(`${server.url}/ping`);
        const fromOutside = await fetch(`http://${external!.address}:${port}/ping`).catch((error: unknown) => error);

        // Assess
        expect(local.status).toBe(200);
        expect(fromOutside).toBeInstanceOf(Error);
      } finally {
        await server.stop();
      }
    }, 180_000);
  },
);

import { defineConfig } from "vitest/config";

// Tests that start the real CLI or a gateway process take seconds on a busy 2-core machine:
// a generous per-test limit keeps them from failing on load alone (a hang still fails).
export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});

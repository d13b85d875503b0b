import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Integration and interop tests start JVMs and write real files: give them room.
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // Integration tests run real brokers, JVMs and OS processes on two cores: one test file at a
    // time keeps them from starving each other into timeouts.
    maxWorkers: 1
  }
})

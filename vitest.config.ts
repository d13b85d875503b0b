import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Integration and interop tests start JVMs and write real files: give them room.
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // Two cores: one test file at a time per core keeps DuckDB and the JVM from starving each other.
    maxWorkers: 2
  }
})

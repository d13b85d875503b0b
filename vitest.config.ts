import * as os from "node:os"
import * as path from "node:path"
import { defineConfig } from "vitest/config"

const project = (name: string, include: Array<string>, options: { maxWorkers: number; groupOrder: number }) => ({
  extends: true,
  test: { name, include, maxWorkers: options.maxWorkers, isolate: false, sequence: { groupOrder: options.groupOrder } }
})

/**
 * Unit tests (in-memory layers, no servers) first, two files at a time. Then integration, interop
 * and program tests one file at a time: they run real brokers, JVMs and OS processes on two cores,
 * and side by side they starve each other into timeouts (measured: two at a time gained nothing,
 * the cores are busy). Workers are shared between files (isolate: false): no test holds global
 * state, and per-file isolation cost more than the unit tests themselves.
 */
export default defineConfig({
  test: {
    // Integration and interop tests start JVMs and write real files: give them room.
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // The programs tests start (and the SQL sandbox's workers) are compiled once, not once per
    // start (~12% of a start's CPU), and their TypeScript is stripped once (test/support/stripTypesCache.mjs:
    // `produce --bogus` 1.6 s of CPU -> 1.1 s).
    env: {
      NODE_COMPILE_CACHE: path.join(os.tmpdir(), "k2-node-compile-cache"),
      K2_STRIP_TYPES_CACHE: path.join(os.tmpdir(), "k2-strip-types-cache"),
      NODE_OPTIONS: [
        process.env["NODE_OPTIONS"],
        `--import=${JSON.stringify(new URL("./test/support/stripTypesCache.mjs", import.meta.url).href)}`
      ].filter((o) => o !== undefined && o !== "").join(" ")
    },
    projects: [
      project("unit", ["test/domain/**/*.test.ts", "test/layers/**/*.test.ts"], { maxWorkers: 2, groupOrder: 0 }),
      project("integration", ["test/integration/**/*.test.ts", "test/interop/**/*.test.ts", "test/programs/**/*.test.ts"], { maxWorkers: 1, groupOrder: 1 })
    ]
  }
})

import { defineConfig } from "vitest/config"
export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 300_000,
    projects: [
      { extends: true, test: { name: "unit", include: ["test/domain/**/*.test.ts", "test/layers/**/*.test.ts"], maxWorkers: 2, isolate: false, sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: "integration", include: ["test/integration/**/*.test.ts", "test/interop/**/*.test.ts", "test/programs/**/*.test.ts"], maxWorkers: 1, isolate: false, sequence: { groupOrder: 1 } } }
    ]
  }
})

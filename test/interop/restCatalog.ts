/**
 * Apache Iceberg's REST catalog server for integration and interop tests: `ensureRestCatalog()`
 * runs `scripts/rest-catalog.sh start` (idempotent; the first run downloads the jars with Maven)
 * and fails loudly when it cannot. K2_TEST_REST_URI points the tests at another server.
 */
import { execFileSync } from "node:child_process"
import * as path from "node:path"

export const restCatalogUri = process.env.K2_TEST_REST_URI ?? "http://127.0.0.1:8181"

const repo = path.resolve(import.meta.dirname, "../..")
let started = false

export const ensureRestCatalog = (): void => {
  if (started || process.env.K2_TEST_REST_URI !== undefined) return
  try {
    execFileSync("bash", [path.join(repo, "scripts/rest-catalog.sh"), "start"], { stdio: "pipe", timeout: 600_000 })
    started = true
  } catch (e) {
    const err = e as { stdout?: Buffer; stderr?: Buffer; message: string }
    throw new Error(
      `could not start the REST catalog with scripts/rest-catalog.sh start:\n${err.stdout?.toString() ?? ""}${err.stderr?.toString() ?? err.message}`
    )
  }
}

/** A parent namespace of its own per test run, so runs never see each other's tables. */
export const uniqueParent = (prefix = "k2_test") => `${prefix}_${Date.now()}_${Math.floor(Math.random() * 1e6)}`

/**
 * Apicurio Registry's Confluent-compatible API for integration tests: `ensureSchemaRegistry()`
 * runs `scripts/schema-registry.sh start` (idempotent; the first run downloads the distribution
 * with Maven) and fails loudly when it cannot. K2_TEST_SCHEMA_REGISTRY_URL points the tests at
 * another Confluent-compatible registry.
 */
import { execFileSync } from "node:child_process"
import * as path from "node:path"

export const schemaRegistryUrl = process.env.K2_TEST_SCHEMA_REGISTRY_URL ?? "http://127.0.0.1:8081/apis/ccompat/v7"

const repo = path.resolve(import.meta.dirname, "../..")
let started = false

export const ensureSchemaRegistry = (): void => {
  if (started || process.env.K2_TEST_SCHEMA_REGISTRY_URL !== undefined) return
  try {
    execFileSync("bash", [path.join(repo, "scripts/schema-registry.sh"), "start"], { stdio: "pipe", timeout: 600_000 })
    started = true
  } catch (e) {
    const err = e as { stdout?: Buffer; stderr?: Buffer; message: string }
    throw new Error(
      `could not start the schema registry with scripts/schema-registry.sh start:\n${err.stdout?.toString() ?? ""}${err.stderr?.toString() ?? err.message}`
    )
  }
}

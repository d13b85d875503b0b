/**
 * The servers integration tests need, started by the repo's own scripts: `ensure()` runs
 * `scripts/<script> start` once per test process (idempotent; the first run downloads the jars
 * with Maven) and fails loudly when it cannot. Setting `overrideEnv` points the tests at a server
 * of one's own instead, and nothing is started.
 */
import { execFileSync } from "node:child_process"
import * as path from "node:path"

const repo = path.resolve(import.meta.dirname, "../..")

export const serviceStarter = (script: string, what: string, overrideEnv: string) => {
  let started = false
  return (): void => {
    if (started || process.env[overrideEnv] !== undefined) return
    try {
      execFileSync("bash", [path.join(repo, "scripts", script), "start"], { stdio: "pipe", timeout: 600_000 })
      started = true
    } catch (e) {
      const err = e as { stdout?: Buffer; stderr?: Buffer; message: string }
      throw new Error(
        `could not start ${what} with scripts/${script} start:\n${err.stdout?.toString() ?? ""}${err.stderr?.toString() ?? err.message}`
      )
    }
  }
}

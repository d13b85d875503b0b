/**
 * scripts/kafka.sh, scripts/schema-registry.sh and scripts/rest-catalog.sh and their pid files,
 * without starting any server: each runs `stop` in a home of its own (K2_*_HOME) whose pid file
 * names a process of the test's. A pid file outlives its server (a reboot, a killed JVM) and the
 * OS gives its pid to another process: that one is no server of the script's, to stop or wait for.
 */
import { execFile, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { alive } from "../support/programs.ts"

const repo = path.resolve(import.meta.dirname, "../..")

const SCRIPTS = [
  { script: "kafka.sh", homeVariable: "K2_KAFKA_HOME", pidfile: "kafka.pid" },
  { script: "schema-registry.sh", homeVariable: "K2_SCHEMA_REGISTRY_HOME", pidfile: "server.pid" },
  { script: "rest-catalog.sh", homeVariable: "K2_REST_HOME", pidfile: "server.pid" }
] as const

/** A live process of the test's, with `args` on its command line; killed at the end. */
const sleeper = (args: ReadonlyArray<string>) => {
  const child = spawn(process.execPath, ["-e", "setTimeout(() => {}, 120_000)", ...args], { stdio: "ignore" })
  return child
}

/** `script stop`, its exit code and output; not spawnSync: the test's processes must be reaped meanwhile. */
const stop = (script: string, homeVariable: string, home: string) =>
  new Promise<{ readonly status: number; readonly stdout: string; readonly stderr: string }>((resolve) =>
    execFile("bash", [path.join(repo, "scripts", script), "stop"], {
      encoding: "utf8",
      env: { ...process.env, [homeVariable]: home },
      timeout: 60_000
    }, (error, stdout, stderr) => resolve({ status: error === null ? 0 : Number(error.code ?? 1), stdout, stderr })))

describe("the service scripts' pid files", () => {
  for (const { homeVariable, pidfile, script } of SCRIPTS) {
    it(`${script} stop leaves a process that only took the pid file's pid alone`, async () => {
      const home = fs.mkdtempSync(path.join(os.tmpdir(), "k2-script-home-"))
      const other = sleeper([])
      try {
        fs.writeFileSync(path.join(home, pidfile), `${other.pid}\n`)
        const r = await stop(script, homeVariable, home)
        assert.strictEqual(r.status, 0, `${r.stdout}${r.stderr}`)
        assert.include(r.stdout, "not running")
        assert.isTrue(alive(other.pid!), "the unrelated process was signalled")
        assert.isFalse(fs.existsSync(path.join(home, pidfile)), "the stale pid file stays")
      } finally {
        other.kill("SIGKILL")
        fs.rmSync(home, { recursive: true, force: true })
      }
    })

    it(`${script} stop still stops the process it started (its command line names the home)`, async () => {
      const home = fs.mkdtempSync(path.join(os.tmpdir(), "k2-script-home-"))
      const ours = sleeper([path.join(home, "server.properties")])
      const exited = new Promise<void>((resolve) => ours.once("exit", () => resolve()))
      try {
        fs.writeFileSync(path.join(home, pidfile), `${ours.pid}\n`)
        const r = await stop(script, homeVariable, home)
        assert.strictEqual(r.status, 0, `${r.stdout}${r.stderr}`)
        assert.include(r.stdout, "stopped")
        await exited
        assert.isFalse(fs.existsSync(path.join(home, pidfile)))
      } finally {
        ours.kill("SIGKILL")
        fs.rmSync(home, { recursive: true, force: true })
      }
    })
  }
})

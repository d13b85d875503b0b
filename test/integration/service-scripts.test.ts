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

/**
 * `script stop`, its exit code and output; not spawnSync: the test's processes must be reaped meanwhile.
 * Run as the docs run it (`scripts/schema-registry.sh stop`), not through `bash`: a script that lost its
 * executable bit then fails here as it would for a user.
 */
const stop = (script: string, homeVariable: string, home: string) =>
  new Promise<{ readonly status: number | string; readonly stdout: string; readonly stderr: string }>((resolve) =>
    execFile(path.join(repo, "scripts", script), ["stop"], {
      encoding: "utf8",
      env: { ...process.env, [homeVariable]: home },
      timeout: 60_000
    }, (error, stdout, stderr) => resolve({ status: error === null ? 0 : error.code ?? 1, stdout, stderr })))

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

/** `kafka.sh <command>` with `env` over the test's environment: its exit code and output. */
const kafka = (command: string, env: Record<string, string>) =>
  new Promise<{ readonly status: number; readonly stdout: string; readonly stderr: string }>((resolve) =>
    execFile("bash", [path.join(repo, "scripts/kafka.sh"), command], {
      encoding: "utf8",
      env: { ...process.env, ...env },
      timeout: 60_000
    }, (error, stdout, stderr) => resolve({ status: error === null ? 0 : Number(error.code ?? 1), stdout, stderr })))

describe("kafka.sh K2_KAFKA_VERSION", () => {
  it("refuses a version it cannot run, before fetching or starting anything", async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), "k2-script-home-"))
    try {
      for (const version of ["3.4.1", "2.8.2", "3.9", "latest"]) {
        const r = await kafka("start", { K2_KAFKA_HOME: home, K2_KAFKA_PORT: "1", K2_KAFKA_VERSION: version })
        assert.strictEqual(r.status, 2, `${version}: ${r.stdout}${r.stderr}`)
        assert.include(r.stderr, `K2_KAFKA_VERSION=${version}: want a release 3.5.0 or newer`)
      }
      assert.isFalse(fs.existsSync(path.join(home, "lib")), "no jars were fetched")
    } finally {
      fs.rmSync(home, { recursive: true, force: true })
    }
  })

  it("refuses to start another version on a home's data, naming the version that formatted them", async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), "k2-script-home-"))
    // Nothing listens on the port: the script goes on to start, and must stop at the data.
    const env = { K2_KAFKA_HOME: home, K2_KAFKA_PORT: "1" }
    try {
      fs.mkdirSync(path.join(home, "data"))
      fs.writeFileSync(path.join(home, "data/meta.properties"), "version=1\n")
      fs.writeFileSync(path.join(home, "kafka-version"), "3.9.1\n")
      const byDefault = await kafka("start", env)
      assert.strictEqual(byDefault.status, 1, `${byDefault.stdout}${byDefault.stderr}`)
      assert.include(byDefault.stderr, "was formatted by Kafka 3.9.1, not default")
      const other = await kafka("start", { ...env, K2_KAFKA_VERSION: "3.7.2" })
      assert.strictEqual(other.status, 1, `${other.stdout}${other.stderr}`)
      assert.include(other.stderr, "was formatted by Kafka 3.9.1, not 3.7.2")
      // A home formatted before the version was recorded is the default's.
      fs.rmSync(path.join(home, "kafka-version"))
      const old = await kafka("start", { ...env, K2_KAFKA_VERSION: "3.9.1" })
      assert.include(old.stderr, "was formatted by Kafka default, not 3.9.1")
      assert.isFalse(fs.existsSync(path.join(home, "lib")), "no jars were fetched")
    } finally {
      fs.rmSync(home, { recursive: true, force: true })
    }
  })
})

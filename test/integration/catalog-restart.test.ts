/**
 * The REST catalog dies (SIGKILL) and comes back while `ingest` (a separate OS process, real
 * broker) is committing: ingestion waits the outage out by itself, without exiting, and the
 * tables hold exactly the produced set. The catalog is a dedicated Apache Iceberg REST server
 * (scripts/rest-catalog.sh on a free port, its own home and catalog name), so the server other
 * tests use is never disturbed, and a CI run beside another one finds its own port.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { uniqueParent } from "../interop/restCatalog.ts"
import {
  assertExactlyOnce,
  expectedRows,
  createTopics,
  publish,
  type Scenario,
  spawnIngest,
  stop,
  uniqueExchange,
  waitForRows
} from "../support/ingestHarness.ts"
import { ensureBroker } from "../support/kafka.ts"
import { alive, freePort } from "../support/programs.ts"
import { uniqueCatalogName } from "../support/postgres.ts"
import { tempWarehouse } from "../support/warehouse.ts"

const repo = path.resolve(import.meta.dirname, "../..")
const script = path.join(repo, "scripts/rest-catalog.sh")

/**
 * The dedicated server: its own home (pid file, log, jars), port and catalog rows. The port is
 * picked in beforeAll (K2_TEST_REST_RESTART_PORT pins it) and kept across the restart.
 */
const server = {
  home: path.join(repo, ".k2/rest-catalog-restart"),
  port: 0,
  catalogName: uniqueCatalogName("k2_restart")
}
let restUri = ""
const pidFile = path.join(server.home, "server.pid")
const serverLog = path.join(server.home, "server.log")

/** Runs `scripts/rest-catalog.sh <command>` for the dedicated server; fails loudly, with what it said. */
const restCatalog = (command: "start" | "stop") => {
  try {
    return execFileSync("bash", [script, command], {
      env: {
        ...process.env,
        K2_REST_HOME: server.home,
        K2_REST_PORT: String(server.port),
        K2_REST_CATALOG_NAME: server.catalogName
      },
      stdio: "pipe",
      timeout: 600_000
    }).toString()
  } catch (e) {
    const err = e as { stdout?: Buffer; stderr?: Buffer; message: string }
    throw new Error(
      `scripts/rest-catalog.sh ${command} (K2_REST_HOME=${server.home}, K2_REST_PORT=${server.port}) failed:\n` +
        `${err.stdout?.toString() ?? ""}${err.stderr?.toString() ?? err.message}`
    )
  }
}

const answers = async () => {
  try {
    return (await fetch(`${restUri}/v1/config`, { signal: AbortSignal.timeout(2_000) })).ok
  } catch {
    return false
  }
}

/** SIGKILLs the dedicated server by its pid file and waits until it is gone and no longer answers. */
const killServer = Effect.promise(async () => {
  const pid = Number(fs.readFileSync(pidFile, "utf8").trim())
  if (!(pid > 0) || !alive(pid)) throw new Error(`the REST catalog's pid file names no live process: ${pid}`)
  process.kill(pid, "SIGKILL")
  for (let i = 0; i < 100 && (alive(pid) || (await answers())); i++) await new Promise((r) => setTimeout(r, 100))
  if (alive(pid)) throw new Error(`the REST catalog (pid ${pid}) outlived SIGKILL`)
  if (await answers()) throw new Error(`something still answers on ${restUri} after SIGKILL of pid ${pid}`)
  return pid
})


const running = (p: ReturnType<typeof spawnIngest>) => p.child.exitCode === null && p.child.signalCode === null

beforeAll(async () => {
  ensureBroker()
  server.port = Number(process.env.K2_TEST_REST_RESTART_PORT ?? await freePort())
  restUri = `http://127.0.0.1:${server.port}`
  fs.mkdirSync(server.home, { recursive: true })
  restCatalog("start")
}, 600_000)

// Stopped whatever happened (also after a failed kill or restart); `stop` is idempotent.
afterAll(() => {
  restCatalog("stop")
}, 120_000)

describe("REST catalog restart during ingestion", () => {
  it.live("the catalog is SIGKILLed and restarted mid-ingestion: ingest waits it out by itself, 0 lost, 0 duplicated", () =>
    Effect.gen(function*() {
      const exchange = uniqueExchange()
      const logFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "k2-catalog-restart-")), "ingest.log")
      const s: Scenario = {
        exchange,
        group: `k2-test-${exchange.toLowerCase()}`,
        partitions: 6,
        logFile,
        options: {
          warehouse: tempWarehouse(),
          catalog: { _tag: "rest", uri: restUri, parentNamespace: uniqueParent("k2_restart") }
        }
      }
      yield* createTopics(s)
      // ~150k events at 5,000/s: the producer is still producing through the outage and after it.
      const producer = yield* Effect.forkChild(
        publish(s, { eventsPerSymbolPerDay: 7_500, pacing: { _tag: "Rate", eventsPerSecond: 5_000 } })
      )
      // A failed assertion leaves no ingest process behind.
      const ingest = yield* Effect.acquireRelease(
        Effect.sync(() => spawnIngest(s, ["--metrics-port", "0"])),
        (p) => Effect.sync(() => running(p) && p.child.kill("SIGKILL"))
      )
      const context = () => `ingest log: ${logFile}, REST catalog log: ${serverLog}\n${ingest.output()}`

      // Ingestion is under way and committing: some rows are in the tables, more keep coming.
      const before = yield* waitForRows(s, 10_000, 120_000)
      const visible = before === undefined ? 0 : before.trades.rows + before.quotes.rows
      assert.isAtLeast(visible, 10_000, `ingestion committed before the kill\n${context()}`)
      assert.isTrue(running(ingest), `ingest runs before the kill\n${context()}`)

      const killed = yield* killServer
      const downAt = Date.now()
      yield* Effect.sleep("10 seconds")
      assert.isTrue(running(ingest), `ingest is still running during the outage\n${context()}`)
      yield* Effect.sync(() => restCatalog("start"))
      const outageMs = Date.now() - downAt
      const restarted = Number(fs.readFileSync(pidFile, "utf8").trim())
      assert.notStrictEqual(restarted, killed, "a new server process answers")
      assert.isTrue(running(ingest), `ingest survived the outage (${outageMs} ms)\n${context()}`)

      const r = yield* Fiber.join(producer)
      assert.isBelow(visible, expectedRows(r), "the kill came while records were still to be committed")
      const c = yield* waitForRows(s, expectedRows(r), 300_000)
      // It waited the outage out: still running when everything landed, not exited and restarted.
      assert.isTrue(running(ingest), `ingest was still running after the catalog came back\n${context()}`)
      const code = yield* stop(ingest)
      const log = fs.readFileSync(logFile, "utf8")
      assert.isDefined(c, context())
      if (c!.trades.rows + c!.quotes.rows !== expectedRows(r)) console.log(context())
      assertExactlyOnce(c!, r, `REST catalog SIGKILLed at ${visible} rows, down ${outageMs} ms`)
      // The kill hit a committing pipeline: a flush met the dead catalog, and it was waited out.
      assert.match(log, /catalog unavailable/, `ingest met the outage\n${context()}`)
      assert.strictEqual(code, 0, `a drained ingest exits 0\n${context()}`)
    }).pipe(Effect.scoped), 600_000)
})

/**
 * A secured cluster (ADR-54), end to end: a broker of the test's own, started by
 * `scripts/kafka.sh` with its SASL_SSL listener (K2_KAFKA_SECURE_PORT: a self-signed CA, SCRAM and
 * PLAIN users) on free ports, stopped at the end. `produce` publishes a simulated session over
 * SASL_SSL; `ingest` lands it exactly once with each client, and `replay --topic` republishes it;
 * a wrong password and an untrusted certificate end ingest with exit 1 and their cause, with
 * --broker-wait 0 (an outage is waited out for ever there: a failure taken for one would hang the
 * test, not pass it).
 */
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { promisify } from "node:util"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { topicName } from "../../src/domain/wire.ts"
import type { Reconciliation } from "../../src/layers/produce/publisher.ts"
import { assertExactlyOnce, checkTables, type Scenario, stop, uniqueExchange, waitForRows } from "../support/ingestHarness.ts"
import { freePort, spawnProgram } from "../support/programs.ts"
import { warehouseOptions } from "../support/warehouse.ts"

const repo = path.resolve(import.meta.dirname, "../..")
const script = path.join(repo, "scripts/kafka.sh")
const run = promisify(execFile)

const USER = "k2-test"
const PASSWORD = "k2-test-secret"
/** The broker's home: its own data, certificates and log; the jars of the default home when it has them. */
const home = fs.mkdtempSync(path.join(os.tmpdir(), "k2-kafka-secured-"))
let scriptEnv: Record<string, string> = {}
let secured = ""

beforeAll(async () => {
  // K2_TEST_KAFKA_SECURED_PORTS=client,controller,secured pins them (a machine whose ports are shared out).
  const pinned = process.env.K2_TEST_KAFKA_SECURED_PORTS?.split(",").map(Number)
  const [port, controller, secure] = pinned?.length === 3 ? pinned : [await freePort(), await freePort(), await freePort()]
  const jars = path.join(process.env.K2_KAFKA_HOME ?? path.join(repo, ".k2/kafka"), "lib")
  // Not fetched again (a minute of Maven) when the usual broker's are there.
  if (fs.existsSync(path.join(jars, ".stamp"))) fs.symlinkSync(jars, path.join(home, "lib"))
  scriptEnv = {
    K2_KAFKA_HOME: home,
    K2_KAFKA_PORT: String(port),
    K2_KAFKA_CONTROLLER_PORT: String(controller),
    K2_KAFKA_SECURE_PORT: String(secure),
    K2_KAFKA_SECURE_USERNAME: USER,
    K2_KAFKA_SECURE_PASSWORD: PASSWORD
  }
  secured = `127.0.0.1:${secure}`
  try {
    await run("bash", [script, "start"], { env: { ...process.env, ...scriptEnv }, timeout: 600_000 })
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string }
    throw new Error(`could not start the secured broker with scripts/kafka.sh start:\n${err.stdout ?? ""}${err.stderr ?? err.message}`)
  }
}, 600_000)

afterAll(async () => {
  await run("bash", [script, "stop"], { env: { ...process.env, ...scriptEnv }, timeout: 120_000 })
  fs.rmSync(home, { recursive: true, force: true })
}, 180_000)

/** The programs' environment for the secured listener: `sasl` overrides the mechanism or password. */
const securedEnv = (sasl: Record<string, string> = {}): Record<string, string> => ({
  // Not the variables of whoever runs the tests.
  K2_KAFKA_BROKERS: "",
  K2_KAFKA_TLS: "on",
  K2_KAFKA_TLS_CA_FILE: path.join(home, "tls/ca.pem"),
  K2_KAFKA_SASL_MECHANISM: "scram-sha-512",
  K2_KAFKA_SASL_USERNAME: USER,
  K2_KAFKA_SASL_PASSWORD: PASSWORD,
  ...sasl
})

const topicsOf = (exchange: string) =>
  (["trades", "quotes"] as const).map((dataType) => topicName({ assetClass: "equities", dataType, exchange }))

/** `ingest` against the secured listener, into `s`'s warehouse. */
const ingest = (s: Scenario, env: Record<string, string>, extra: ReadonlyArray<string> = []) =>
  spawnProgram("ingest", [
    "--brokers", secured,
    "--warehouse", s.options.warehouse,
    "--catalog", (s.options.catalog as { readonly path: string }).path,
    "--group", s.group,
    "--topics", topicsOf(s.exchange).join(","),
    "--partitions", String(s.partitions),
    "--commit-interval-ms", "300",
    "--metrics-port", "0",
    ...extra
  ], env)

describe("a secured cluster (SASL_SSL)", () => {
  it.live("produce publishes over SASL_SSL; ingest lands the set exactly once with each client", () =>
    Effect.gen(function*() {
      const exchange = uniqueExchange()
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-secured-"))
      const reconciliation = path.join(dir, "reconciliation.json")
      const produce = spawnProgram("produce", [
        "--brokers", secured,
        "--exchange", exchange,
        "--events", "100",
        "--partitions", "3",
        "--reconciliation", reconciliation
      ], securedEnv())
      assert.strictEqual(yield* Effect.promise(() => produce.exited), 0, produce.output())
      assert.notInclude(produce.output(), PASSWORD)
      const r = JSON.parse(fs.readFileSync(reconciliation, "utf8")) as Reconciliation
      assert.isAbove(r.totals.trades + r.totals.quotes, 0)
      // Each client with another mechanism: all three the script's listener takes.
      for (const [client, mechanism] of [["platformatic", "scram-sha-256"], ["kafkajs", "plain"]] as const) {
        const s: Scenario = { exchange, group: `k2-secured-${client}-${exchange}`, partitions: 3, options: warehouseOptions("sqlite") }
        const p = ingest(s, securedEnv({ K2_KAFKA_SASL_MECHANISM: mechanism }), ["--client", client])
        const c = yield* waitForRows(s, r.totals.trades + r.totals.quotes, 120_000)
        assert.strictEqual(yield* stop(p), 0, p.output())
        assert.isDefined(c, p.output())
        assertExactlyOnce(yield* checkTables(s), r, `${client} over SASL_SSL (${mechanism})`)
        assert.include(p.output(), `(${client}, SASL_SSL as ${USER} (${mechanism.toUpperCase()}))`)
        assert.notInclude(p.output(), PASSWORD)
        // replay --topic makes its topic and publishes over SASL_SSL too, with the same client.
        const replay = spawnProgram("replay", [
          "--warehouse", s.options.warehouse,
          "--catalog", (s.options.catalog as { readonly path: string }).path,
          "--brokers", secured,
          "--client", client,
          "--topic", `k2.replay.${exchange.toLowerCase()}.${client}`,
          "--from", "2000-01-01",
          "--to", "2100-01-01"
        ], securedEnv())
        assert.strictEqual(yield* Effect.promise(() => replay.exited), 0, replay.output())
        assert.include(replay.output(), `republished ${r.totals.trades + r.totals.quotes} events`)
      }
    }), 600_000)

  for (const client of ["platformatic", "kafkajs"] as const) {
    it.live(`${client}: a wrong password ends ingest with exit 1 naming the user, not waited out as an outage`, () =>
      Effect.gen(function*() {
        const wrong = "not-the-password"
        const s: Scenario = { exchange: uniqueExchange(), group: "k2-secured-wrong", partitions: 1, options: warehouseOptions("sqlite") }
        const p = ingest(s, securedEnv({ K2_KAFKA_SASL_PASSWORD: wrong }), ["--client", client, "--broker-wait", "0"])
        assert.strictEqual(yield* Effect.promise(() => p.exited), 1, p.output())
        assert.match(p.output(), new RegExp(`error: kafka rejected \\w+: Kafka refused the SASL credentials for user ${USER} \\(SCRAM-SHA-512\\)`))
        assert.notInclude(p.output(), wrong)
        assert.deepStrictEqual(fs.readdirSync(s.options.warehouse), [], "no warehouse made for a run that never reached Kafka")
      }), 120_000)

    it.live(`${client}: without the CA, the broker's certificate is not trusted: exit 1 naming K2_KAFKA_TLS_CA_FILE`, () =>
      Effect.gen(function*() {
        const s: Scenario = { exchange: uniqueExchange(), group: "k2-secured-no-ca", partitions: 1, options: warehouseOptions("sqlite") }
        const p = ingest(s, { ...securedEnv(), K2_KAFKA_TLS_CA_FILE: "" }, ["--client", client, "--broker-wait", "0"])
        assert.strictEqual(yield* Effect.promise(() => p.exited), 1, p.output())
        assert.match(p.output(), /error: kafka rejected \w+: the broker's TLS certificate is not trusted \(SELF_SIGNED_CERT_IN_CHAIN/)
        assert.include(p.output(), "K2_KAFKA_TLS_CA_FILE names the CA that signed it")
      }), 120_000)
  }

  it.live("a PLAINTEXT client at the TLS listener is told to set K2_KAFKA_TLS, at its first connection, with either client", () =>
    Effect.gen(function*() {
      const plain = { K2_KAFKA_BROKERS: "" }
      for (const client of ["platformatic", "kafkajs"] as const) {
        const s: Scenario = { exchange: uniqueExchange(), group: "k2-secured-plain", partitions: 1, options: warehouseOptions("sqlite") }
        const p = ingest(s, plain, ["--client", client, "--broker-wait", "3"])
        assert.strictEqual(yield* Effect.promise(() => p.exited), 1, p.output())
        // Not "no Kafka broker answered" at the end of --broker-wait: the listener's TLS alert says it.
        assert.match(p.output(), /error: kafka rejected \w+: the broker's listener wants TLS and the client spoke PLAINTEXT: set K2_KAFKA_TLS=on/)
      }
    }), 120_000)
})

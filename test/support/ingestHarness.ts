/**
 * Exactly-once harness for integration tests: publish simulated market data to the real
 * broker, run `ingest` as separate OS processes (so they can be SIGKILLed, SIGSTOPped and
 * restarted), and check the tables against what was published.
 */
import type { ChildProcess } from "node:child_process"
import * as path from "node:path"
import { assert } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import { makeWireCodec } from "../../src/domain/avro/codec.ts"
import { instrumentsTopicName, sourceTopicSpecs, topicName } from "../../src/domain/wire.ts"
import * as Feeds from "../../src/layers/feeds/simulator.ts"
import * as Kafkajs from "../../src/layers/kafka/kafkajs.ts"
import * as Lakehouse from "../../src/layers/lakehouse.ts"
import { publishFeed, type Reconciliation } from "../../src/layers/produce/publisher.ts"
import { currentSnapshot } from "../../src/domain/iceberg/metadata.ts"
import { Catalog } from "../../src/services/Catalog.ts"
import { KafkaAdmin } from "../../src/services/KafkaSink.ts"
import { kafkaBrokers } from "./kafka.ts"
import { spawnNode } from "./programs.ts"
import { checkTable } from "./tableCheck.ts"

const repo = path.resolve(import.meta.dirname, "../..")

/** An exchange code of its own per test: its topics and rows never meet another test's. */
export const uniqueExchange = () => `T${Date.now().toString(36).toUpperCase()}${Math.floor(Math.random() * 1e4)}`

export interface Scenario {
  readonly exchange: string
  readonly group: string
  readonly partitions: number
  readonly options: Lakehouse.LakehouseOptions
  /** What ingest subscribes to; default `topicsOf(exchange)` (trades and quotes). */
  readonly topics?: ReadonlyArray<string>
  /** ingest's --commit-interval-ms; default 300 (tests wait less). */
  readonly commitIntervalMs?: number
  /** Node/V8 flags for the ingest process (some V8 flags are refused in NODE_OPTIONS). */
  readonly nodeFlags?: ReadonlyArray<string>
  /** Environment of the ingest process set before it starts (e.g. MALLOC_ARENA_MAX, read only then). */
  readonly nodeEnv?: Readonly<Record<string, string>>
  /** A file the ingest process's whole output is appended to (e.g. what --trace-gc-nvp prints). */
  readonly logFile?: string
}

export const topicsOf = (exchange: string) =>
  ["trades", "quotes"].map((dataType) =>
    topicName({ assetClass: "equities", dataType: dataType as "trades" | "quotes", exchange })
  )

export const createTopics = (s: Scenario) =>
  Effect.gen(function*() {
    // The publisher sends the feed's instruments too.
    yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs([...topicsOf(s.exchange), instrumentsTopicName(s.exchange)], s.partitions)!)
  }).pipe(Effect.provide(Kafkajs.layerKafkajs({ brokers: kafkaBrokers, clientId: "k2-test-admin" })))

/**
 * Publishes a simulated session of `symbols × perSymbol` events (plus injected faults); with
 * `stop`, only until it completes: the counts are of what was sent and acknowledged by then.
 */
export const publish = (s: Scenario, simulator: Feeds.SimulatorConfig, stop?: Effect.Effect<void>) =>
  publishFeed(makeWireCodec(), { batchSize: 2_000, ...(stop === undefined ? {} : { stop }) }).pipe(
    Effect.provide(Layer.merge(
      Feeds.layerSimulator({ ...simulator, exchange: s.exchange }),
      Kafkajs.layerKafkajs({ brokers: kafkaBrokers, clientId: "k2-test-producer" })
    ))
  )

/** A running `npm run ingest` process (Node 22 directly, no npm in between, so signals reach it). */
export interface IngestProcess {
  readonly child: ChildProcess
  readonly output: () => string
  readonly exited: Promise<number | null>
}

/**
 * The `--catalog` value and the environment that select `catalog` in the ingest process: a SQLite
 * file or a postgres URL; for a REST catalog its URI, with the parent namespace (and credentials)
 * in the K2_REST_* variables the program reads.
 */
const catalogArgument = (catalog: Lakehouse.CatalogChoice): { readonly value: string; readonly env: Record<string, string> } => {
  switch (catalog._tag) {
    case "postgres":
      return { value: catalog.url, env: {} }
    case "sqlite":
      return { value: catalog.path, env: {} }
    case "memory":
      return { value: "", env: {} }
    case "rest":
      return {
        value: catalog.uri,
        env: {
          // Always set, so a parent namespace in this process's environment never leaks in.
          K2_REST_PARENT_NAMESPACE: catalog.parentNamespace ?? "",
          ...(catalog.token === undefined ? {} : { K2_REST_TOKEN: catalog.token }),
          ...(catalog.credential === undefined ? {} : { K2_REST_CREDENTIAL: catalog.credential })
        }
      }
  }
}

/** `env` is added to this process's environment (e.g. OTEL_* variables). */
export const spawnIngest = (s: Scenario, extra: ReadonlyArray<string> = [], env: Readonly<Record<string, string>> = {}): IngestProcess => {
  const catalog = catalogArgument(s.options.catalog)
  const args = [
    ...(s.nodeFlags ?? []),
    "--disable-warning=ExperimentalWarning",
    path.join(repo, "src/programs/ingest.ts"),
    "--brokers", kafkaBrokers.join(","),
    "--warehouse", s.options.warehouse,
    "--catalog", catalog.value,
    "--catalog-name", s.options.catalogName ?? "k2",
    "--group", s.group,
    "--topics", (s.topics ?? topicsOf(s.exchange)).join(","),
    "--partitions", String(s.partitions),
    "--commit-interval-ms", String(s.commitIntervalMs ?? 300),
    ...extra
  ]
  return spawnNode(args, { ...s.nodeEnv, ...catalog.env, ...env }, s.logFile)
}

export const stop = (p: IngestProcess, signal: NodeJS.Signals = "SIGTERM") =>
  Effect.promise(async () => {
    if (p.child.exitCode !== null || p.child.signalCode !== null) return p.child.exitCode
    p.child.kill(signal)
    return await p.exited
  })

/** Row counts and distinct keys of the trades and quotes tables, read from a fresh process view. */
export const checkTables = (s: Scenario) =>
  Effect.gen(function*() {
    return { trades: yield* checkTable("trades"), quotes: yield* checkTable("quotes") }
  }).pipe(Effect.provide(Lakehouse.layer(s.options)))

/**
 * The rows the current snapshots of trades and quotes say they hold (their summaries'
 * `total-records`: what a scan would see), read from the catalog alone; a table not made yet holds
 * none; undefined when a summary does not say.
 */
export const committedRows = Effect.gen(function*() {
  const catalog = yield* Catalog
  let rows = 0
  for (const name of ["trades", "quotes"]) {
    const table = yield* catalog.loadTable({ namespace: "market_data", name }).pipe(Effect.option)
    if (Option.isNone(table)) continue
    const snapshot = currentSnapshot(table.value.metadata)
    if (snapshot === undefined) continue
    const total = snapshot.summary["total-records"]
    if (total === undefined) return undefined
    rows += Number(total)
  }
  return rows
})

/**
 * Polls the tables until they hold `expected` rows in all (or the time is up), and returns
 * `checkTables` then. The polls read the snapshot summaries only: counting distinct keys over a
 * million rows every second took the CPU the ingest under test needed. The full count runs once
 * the summaries reach `expected` (again each poll if it then finds fewer) and at the deadline.
 */
export const waitForRows = (s: Scenario, expected: number, timeoutMs: number) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    // A catalog of its own each poll, as `checkTables` has: a connection kept across polls can
    // keep reading the snapshot it first saw. No tables yet (or no catalog) count as 0 rows.
    const summaries = committedRows.pipe(Effect.provide(Lakehouse.storageLayer(s.options)), Effect.catch(() => Effect.succeed(0)))
    let lastError: unknown
    for (;;) {
      const late = Date.now() > deadline
      const committed = yield* summaries
      if (late || committed === undefined || committed >= expected) {
        const c = yield* checkTables(s).pipe(
          Effect.tapError((e) => Effect.sync(() => (lastError = e))),
          Effect.catch(() => Effect.succeed(undefined))
        )
        const rows = c === undefined ? 0 : c.trades.rows + c.quotes.rows
        if (rows >= expected) return c
        if (late) {
          if (c === undefined) return yield* Effect.die(new Error(`the tables could not be read: ${String(lastError)}`))
          return c
        }
      }
      yield* Effect.sleep("250 millis")
    }
  })

export const expectedRows = (r: Reconciliation, duplicatesInjected = 0) =>
  r.totals.trades + r.totals.quotes - duplicatesInjected

/** Exactly the published set: every record once, nothing else. */
export const assertExactlyOnce = (
  c: Effect.Success<ReturnType<typeof checkTables>>,
  r: Reconciliation,
  context: string
) => {
  for (const table of ["trades", "quotes"] as const) {
    const t = c[table]
    assert.strictEqual(t.rows, r.totals[table], `${context}: ${table} rows == published`)
    assert.strictEqual(t.distinctCoordinates, t.rows, `${context}: ${table} has no duplicate (topic, partition, offset)`)
    assert.strictEqual(t.distinctMessageIds, t.rows, `${context}: ${table} has no duplicate message_id`)
  }
}

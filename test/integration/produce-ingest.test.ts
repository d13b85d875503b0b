/**
 * Feeds end to end on the real broker: `npm run produce` publishes an ASX fixture directory
 * (its identical rows, zero asks, crossed quotes and bad rows included) and a simulated session,
 * instruments first to the reference topic; a separate `ingest` lands them; the trades, quotes
 * and instruments tables equal the producer's reconciliation exactly.
 */
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { promisify } from "node:util"
import { assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import { instrumentsTopicName, topicName } from "../../src/domain/wire.ts"
import * as Kafkajs from "../../src/layers/kafka/kafkajs.ts"
import { selectPlanned } from "../../src/layers/duckdb/readPlan.ts"
import * as Lakehouse from "../../src/layers/lakehouse.ts"
import { KafkaAdmin } from "../../src/services/KafkaSink.ts"
import { TableScanner } from "../../src/services/TableScanner.ts"
import { type Scenario, spawnIngest, stop, topicsOf, uniqueExchange, waitForRows } from "../support/ingestHarness.ts"
import { ensureBroker, kafkaBrokers } from "../support/kafka.ts"
import { warehouseOptions } from "../support/warehouse.ts"
import { spawnProgram } from "../support/programs.ts"

const repo = path.resolve(import.meta.dirname, "../..")
const run = promisify(execFile)

beforeAll(() => ensureBroker(), 600_000)

/** `npm run produce` as a user runs it (Node 22 directly); returns its reconciliation. */
const produce = (args: ReadonlyArray<string>) =>
  Effect.promise(async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-produce-"))
    const reconciliation = path.join(dir, "reconciliation.json")
    await run(process.execPath, [
      "--disable-warning=ExperimentalWarning",
      path.join(repo, "src/programs/produce.ts"),
      "--brokers", kafkaBrokers.join(","),
      "--partitions", "4",
      "--reconciliation", reconciliation,
      // Where an ASX load's rejected rows go; the simulator refuses the flag (it has none).
      ...(args.includes("asx") ? ["--dead-letters", path.join(dir, "dead-letters.jsonl")] : []),
      ...args
    ], { cwd: repo, timeout: 300_000 })
    return {
      report: JSON.parse(fs.readFileSync(reconciliation, "utf8")) as {
        totals: { trades: number; quotes: number; poison: number; instruments: number }
        published: Record<string, { trades: number; quotes: number; instruments: number }>
        feed: { deadLettered: number; instruments: number }
      },
      deadLetters: fs.existsSync(path.join(dir, "dead-letters.jsonl"))
        ? fs.readFileSync(path.join(dir, "dead-letters.jsonl"), "utf8").split("\n").filter((l) => l.length > 0)
        : []
    }
  })

type Counts = { trades: number; quotes: number; instruments: number }

/** Per symbol and table, rows in the warehouse. */
const countsBySymbol = (s: Scenario) =>
  Effect.gen(function*() {
    const out: Record<string, Counts> = {}
    const scanner = yield* TableScanner
    for (const table of ["trades", "quotes"] as const) {
      const plan = yield* scanner.plan({ namespace: "market_data", name: table })
      const rows = yield* selectPlanned(plan, "symbol, count(*)::INTEGER AS n, count(DISTINCT message_id)::INTEGER AS ids", "GROUP BY symbol")
      for (const r of rows) {
        assert.strictEqual(r.n, r.ids, `${table} ${r.symbol}: no duplicate message_id`)
        ;(out[r.symbol as string] ??= { trades: 0, quotes: 0, instruments: 0 })[table] = r.n as number
      }
    }
    // One load: one row per instrument, each from its own Kafka record.
    const plan = yield* scanner.plan({ namespace: "reference_data", name: "instruments" })
    const rows = yield* selectPlanned(
      plan,
      "symbol, exchange, kafka_topic, count(*)::INTEGER AS n, count(DISTINCT (kafka_partition, kafka_offset))::INTEGER AS coordinates",
      "GROUP BY symbol, exchange, kafka_topic"
    )
    for (const r of rows) {
      assert.strictEqual(r.n, r.coordinates, `instruments ${r.symbol}: no record twice`)
      assert.strictEqual(r.kafka_topic, instrumentsTopicName(s.exchange))
      assert.strictEqual(r.exchange, s.exchange)
      ;(out[r.symbol as string] ??= { trades: 0, quotes: 0, instruments: 0 }).instruments += r.n as number
    }
    return out
  }).pipe(Effect.provide(Lakehouse.layer(s.options)))

/** What the reconciliation says each symbol's tables hold. */
const expectedCounts = (published: Record<string, Counts>) =>
  Object.fromEntries(Object.entries(published).map(([symbol, c]) => [symbol, { trades: c.trades, quotes: c.quotes, instruments: c.instruments }]))

/** Ingest subscribes to the scenario's market data and instruments topics. */
const withInstruments = (s: Omit<Scenario, "topics">): Scenario => ({ ...s, topics: [...topicsOf(s.exchange), instrumentsTopicName(s.exchange)] })

/** The ASX topics are shared by every run: start them empty. */
const resetAsxTopics = Effect.gen(function*() {
  const admin = yield* KafkaAdmin
  const names = [
    topicName({ assetClass: "equities", dataType: "trades", exchange: "ASX" }),
    topicName({ assetClass: "equities", dataType: "quotes", exchange: "ASX" }),
    instrumentsTopicName("ASX")
  ].flatMap((topic) => [topic, `${topic}.dlq`])
  const existing = (yield* admin.listTopics()).filter((t) => names.includes(t))
  if (existing.length > 0) yield* admin.deleteTopics(existing)
  yield* admin.listTopics().pipe(
    Effect.repeat({ schedule: Schedule.spaced("500 millis"), until: (ts) => !ts.some((t) => names.includes(t)), times: 60 })
  )
}).pipe(Effect.provide(Kafkajs.layerKafkajs({ brokers: kafkaBrokers, clientId: "k2-test-reset" })))

describe("produce then ingest", () => {
  it.live("an ASX fixture directory: tables equal the reconciliation; bad rows in the dead-letter file", () =>
    Effect.gen(function*() {
      yield* resetAsxTopics
      const { report, deadLetters } = yield* produce(["--source", "asx", "--dir", path.join(repo, "test/fixtures/asx/basic")])
      assert.isAbove(report.feed.deadLettered, 0, "the fixture's bad rows were dead-lettered")
      assert.strictEqual(deadLetters.length, report.feed.deadLettered)
      assert.strictEqual(report.totals.instruments, report.feed.instruments)
      assert.isAbove(report.totals.instruments, 0, "company_info's instruments were published")
      const s = withInstruments({ exchange: "ASX", group: `k2-asx-${Date.now()}`, partitions: 4, options: warehouseOptions("sqlite") })
      const ingest = spawnIngest(s)
      yield* waitForRows(s, report.totals.trades + report.totals.quotes, 120_000)
      // SIGTERM drains: whatever is buffered (instruments included) is committed before exit.
      assert.strictEqual(yield* stop(ingest), 0, ingest.output())
      assert.deepStrictEqual(yield* countsBySymbol(s), expectedCounts(report.published))
    }), 600_000)

  it.live("a simulated session: tables equal the reconciliation", () =>
    Effect.gen(function*() {
      const exchange = uniqueExchange()
      const { report } = yield* produce(["--source", "sim", "--events", "2000", "--seed", "7", "--exchange", exchange])
      assert.strictEqual(report.totals.instruments, 20, "the simulator's universe")
      const s = withInstruments({ exchange, group: `k2-sim-${exchange.toLowerCase()}`, partitions: 4, options: warehouseOptions("sqlite") })
      const ingest = spawnIngest(s)
      yield* waitForRows(s, report.totals.trades + report.totals.quotes, 120_000)
      assert.strictEqual(yield* stop(ingest), 0, ingest.output())
      assert.deepStrictEqual(yield* countsBySymbol(s), expectedCounts(report.published))
    }), 600_000)
})

describe("produce stopped by a signal", () => {
  it.live("SIGINT mid-run: what is in the topics equals the reconciliation and the summary; exit 0", () =>
    Effect.gen(function*() {
      const exchange = uniqueExchange()
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-produce-int-"))
      const reconciliation = path.join(dir, "reconciliation.json")
      const p = spawnProgram("produce", [
        "--brokers", kafkaBrokers.join(","), "--partitions", "2", "--exchange", exchange,
        "--rate", "400", "--reconciliation", reconciliation
      ])
      const topics = [...topicsOf(exchange), instrumentsTopicName(exchange)]
      const inTopics = Effect.gen(function*() {
        const admin = yield* KafkaAdmin
        if (!(yield* admin.listTopics()).includes(topics[0]!)) return 0
        // A partition of a topic made a moment ago may have no leader yet: the broker answers
        // NOT_LEADER_OR_FOLLOWER, and kafkajs' admin gives that up at once; ask again.
        return yield* Effect.tryPromise(async () => {
          const kafka = new (await import("kafkajs")).default.Kafka({ brokers: [...kafkaBrokers], logLevel: 0 })
          const a = kafka.admin()
          await a.connect()
          try {
            let n = 0
            for (const t of topics) for (const o of await a.fetchTopicOffsets(t)) n += Number(o.high) - Number(o.low)
            return n
          } finally {
            await a.disconnect()
          }
        }).pipe(Effect.retry({ schedule: Schedule.spaced("500 millis"), times: 20 }))
      }).pipe(Effect.provide(Kafkajs.layerKafkajs({ brokers: kafkaBrokers, clientId: "k2-test-count" })))
      // Stopped while records are flowing (a few seconds of a paced feed).
      yield* inTopics.pipe(Effect.repeat({ schedule: Schedule.spaced("250 millis"), until: (n) => n > 500 || p.child.exitCode !== null, times: 240 }))
      p.child.kill("SIGINT")
      const code = yield* Effect.promise(() => p.exited)
      assert.strictEqual(code, 0, p.output())
      assert.isTrue(fs.existsSync(reconciliation), `the reconciliation is written on a signal too\n${p.output()}`)
      const report = JSON.parse(fs.readFileSync(reconciliation, "utf8")) as {
        completed: boolean
        totals: { trades: number; quotes: number; poison: number; instruments: number }
      }
      assert.isFalse(report.completed)
      const total = report.totals.trades + report.totals.quotes + report.totals.poison + report.totals.instruments
      assert.isAbove(total, 500)
      assert.strictEqual(yield* inTopics, total, "acknowledged = reconciled")
      assert.include(p.output(), `trades ${report.totals.trades}, quotes ${report.totals.quotes}`)
    }), 180_000)
})

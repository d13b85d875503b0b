/**
 * Exactly-once ingestion on the real broker, with `ingest` as separate OS processes:
 * volume, crashes (SIGKILL), rebalance, a zombie (SIGSTOP), a broker restart and poison.
 * Each test has its own exchange code, hence its own topics, group and warehouse.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, beforeAll, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Stream } from "effect"
import { dlqTopicName, Header } from "../../src/domain/wire.ts"
import * as Kafkajs from "../../src/layers/kafka/kafkajs.ts"
import { type KafkaRecord, KafkaSource } from "../../src/services/KafkaSource.ts"
import { KafkaAdmin } from "../../src/services/KafkaSink.ts"
import {
  assertExactlyOnce,
  checkTables,
  expectedRows,
  createTopics,
  type IngestProcess,
  publish,
  type Scenario,
  spawnIngest,
  stop,
  topicsOf,
  uniqueExchange,
  waitForRows
} from "../support/ingestHarness.ts"
import { ensureBroker, kafkaBrokers } from "../support/kafka.ts"
import { type TestCatalog, warehouseOptions } from "../support/warehouse.ts"

const scenario = (catalog: TestCatalog = "sqlite", partitions = 12): Scenario => {
  const exchange = uniqueExchange()
  return { exchange, group: `k2-test-${exchange.toLowerCase()}`, partitions, options: warehouseOptions(catalog) }
}


beforeAll(() => ensureBroker(), 600_000)

describe("exactly-once ingestion on the real broker", () => {
  it.live("1,000,000 trades and quotes over 12 partitions: rows == produced, no duplicates", () =>
    Effect.gen(function*() {
      const s = scenario()
      yield* createTopics(s)
      const r = yield* publish(s, { eventsPerSymbolPerDay: 50_000 })
      assert.isAtLeast(expectedRows(r), 990_000)
      const ingest = spawnIngest(s)
      const c = yield* waitForRows(s, expectedRows(r), 400_000)
      assert.strictEqual(yield* stop(ingest), 0, ingest.output())
      assert.isDefined(c, ingest.output())
      // Once the process is gone, its drain included.
      assertExactlyOnce(yield* checkTables(s), r, "1M")
    }), 600_000)

  it.live("ingest SIGKILLed at random moments 10 times while a producer keeps producing: 0 lost, 0 duplicated", () =>
    Effect.gen(function*() {
      const s = scenario()
      yield* createTopics(s)
      // The producer runs until the last kill (its day is far longer), so every kill comes while
      // records are still arriving, however long the processes take to start.
      const killed = yield* Deferred.make<void>()
      const producer = yield* Effect.forkChild(
        publish(s, { eventsPerSymbolPerDay: 1_000_000, pacing: { _tag: "Rate", eventsPerSecond: 5_000 } }, Deferred.await(killed))
      )
      // Each process is killed at a random moment after it has committed something of its own,
      // so every kill hits a working pipeline (start-up time varies a lot on a loaded machine).
      const kills: Array<number> = []
      let committed = 0
      for (let i = 0; i < 10; i++) {
        // A SIGKILLed member haunts the group until its session times out: keep that short.
        const p = yield* spawnOwned(s, ["--session-timeout-ms", "6000"])
        const before = committed
        const progressed = yield* waitForRows(s, before + 1, 120_000)
        committed = progressed === undefined ? before : progressed.trades.rows + progressed.quotes.rows
        const wait = Math.floor(Math.random() * 1_500)
        yield* Effect.sleep(`${wait} millis`)
        assert.isUndefined(producer.pollUnsafe(), `the producer is still producing at kill ${i}`)
        yield* stop(p, "SIGKILL")
        assert.isAbove(committed, before, `process ${i} committed before it was killed\n${p.output()}`)
        kills.push(wait)
      }
      yield* Deferred.succeed(killed, undefined)
      const r = yield* Fiber.join(producer)
      assert.isTrue(r.stopped, "the producer was stopped, not at the end of its day")
      const last = spawnIngest(s)
      const c = yield* waitForRows(s, expectedRows(r), 300_000)
      const code = yield* stop(last)
      assert.isDefined(c, last.output())
      assert.strictEqual(code, 0, last.output())
      // What the tables hold once no process is left: the last one's drain included.
      assertExactlyOnce(yield* checkTables(s), r, `after ${kills.length} kills, ${kills.join(",")} ms after a commit`)
    }), 600_000)

  it.live("rebalance: one of two members dies, the other takes its partitions; a zombie wakes and commits nothing twice", () =>
    Effect.gen(function*() {
      const s = scenario("postgres")
      yield* createTopics(s)
      // Records keep coming until the zombie has woken and tried to commit.
      const enough = yield* Deferred.make<void>()
      const producer = yield* Effect.forkChild(
        publish(s, { eventsPerSymbolPerDay: 1_000_000, pacing: { _tag: "Rate", eventsPerSecond: 10_000 } }, Deferred.await(enough))
      )
      const fast = ["--session-timeout-ms", "6000"]
      const a = yield* spawnOwned(s, fast)
      const b = yield* spawnOwned(s, fast)
      const z = yield* spawnOwned(s, fast)
      const logs = () => `--- a ---\n${a.output()}\n--- b ---\n${b.output()}\n--- z ---\n${z.output()}`
      // Each member owns partitions and has committed rows of its own: b and z hold work when hit.
      for (const p of [a, b, z]) yield* outputShows(p, (out) => rowsCommittedBy(out) > 0, 120_000, logs)
      // b dies for good; z is frozen long enough for the group to give its partitions away.
      yield* stop(b, "SIGKILL")
      z.child.kill("SIGSTOP")
      yield* Effect.sleep("15 seconds")
      z.child.kill("SIGCONT")
      // Woken, z flushes what it had buffered for partitions a owns now: the fence abandons that commit.
      yield* outputShows(z, (out) => /flush failed, restarting \d+ partition\(s\) from the tables: .*another writer owns it/.test(out), 60_000, logs)
      yield* Deferred.succeed(enough, undefined)
      const r = yield* Fiber.join(producer)
      const c = yield* waitForRows(s, expectedRows(r), 180_000)
      yield* stop(a)
      yield* stop(z)
      assert.isDefined(c, logs())
      const final = yield* checkTables(s)
      if (final.trades.rows + final.quotes.rows !== expectedRows(r)) console.log(logs())
      // What the tables hold once no process is left, the zombie's last commits included.
      assertExactlyOnce(final, r, "rebalance + zombie")
    }), 600_000)

  it.live("broker restart during ingestion: recovers by itself, exactly once", () =>
    Effect.gen(function*() {
      const s = scenario()
      yield* createTopics(s)
      // Enough that ingesting it outlasts the broker's clean shutdown, which begins at the first rows.
      const r = yield* publish(s, { eventsPerSymbolPerDay: 50_000 })
      const ingest = spawnIngest(s)
      // Stop the broker while ingestion is under way.
      yield* waitForRows(s, 1, 60_000)
      const script = path.resolve(import.meta.dirname, "../../scripts/kafka.sh")
      yield* Effect.sync(() => execFileSync("bash", [script, "stop"], { stdio: "pipe", timeout: 120_000 }))
      const down = yield* checkTables(s)
      assert.isBelow(down.trades.rows + down.quotes.rows, expectedRows(r), "the broker went down before ingestion ended")
      yield* Effect.sleep("3 seconds")
      yield* Effect.sync(() => execFileSync("bash", [script, "start"], { stdio: "pipe", timeout: 300_000 }))
      const c = yield* waitForRows(s, expectedRows(r), 300_000)
      const code = yield* stop(ingest)
      assert.isDefined(c, ingest.output())
      assertExactlyOnce(yield* checkTables(s), r, "broker restart")
      assert.strictEqual(code, 0, `a drained ingest exits 0\n${ingest.output()}`)
    }), 600_000)

  it.live("a drain that cannot commit exits 1 and says why; the next start ingests its records, exactly once", () =>
    Effect.gen(function*() {
      const s = scenario("sqlite", 4)
      yield* createTopics(s)
      const r = yield* publish(s, { eventsPerSymbolPerDay: 200 })
      // Nothing is due before the drain: everything is still buffered when SIGTERM comes.
      const first = spawnIngest({ ...s, commitIntervalMs: 600_000 }, ["--flush-rows", "1000000"])
      const allConsumed = (out: string) =>
        [...out.matchAll(/(\d+) messages, [^\n]*\| lag 0 \|/g)].some((m) => Number(m[1]) >= expectedRows(r))
      for (let i = 0; i < 120 && !allConsumed(first.output()); i++) yield* Effect.sleep("500 millis")
      assert.isTrue(allConsumed(first.output()), first.output())
      // The data directories become files: the final flush cannot write its Parquet files.
      const dataDirs = ["trades", "quotes"].map((t) => path.join(s.options.warehouse, "market_data", t, "data"))
      for (const dir of dataDirs) {
        fs.rmSync(dir, { recursive: true, force: true })
        fs.writeFileSync(dir, "")
      }
      const code = yield* stop(first)
      assert.strictEqual(code, 1, first.output())
      assert.match(first.output(), /final flush failed/)
      assert.match(first.output(), /error: storage failure/)
      for (const dir of dataDirs) fs.rmSync(dir)
      const second = spawnIngest(s)
      const c = yield* waitForRows(s, expectedRows(r), 120_000)
      assert.strictEqual(yield* stop(second), 0, second.output())
      assert.isDefined(c, second.output())
      assertExactlyOnce(yield* checkTables(s), r, "after a failed drain")
    }), 300_000)

  /**
   * Ingests a topic pair, deletes and re-creates them, publishes `eventsAfter` events per symbol
   * (200 before) and starts again: the start must exit 1 saying `refusal`, the table untouched.
   */
  const recreated = (eventsAfter: number, refusal: RegExp) =>
    Effect.gen(function*() {
      const s = scenario("sqlite", 2)
      yield* createTopics(s)
      const r = yield* publish(s, { eventsPerSymbolPerDay: 200 })
      const first = spawnIngest(s)
      const c = yield* waitForRows(s, expectedRows(r), 120_000)
      assert.strictEqual(yield* stop(first), 0, first.output())
      assertExactlyOnce(c!, r, "before the topics were re-created")
      yield* Effect.gen(function*() {
        const admin = yield* KafkaAdmin
        yield* admin.deleteTopics(topicsOf(s.exchange))
        // Deletion completes after the answer: wait until the names are free.
        for (let i = 0; i < 100 && (yield* admin.listTopics()).some((t) => topicsOf(s.exchange).includes(t)); i++) yield* Effect.sleep("100 millis")
      }).pipe(Effect.provide(Kafkajs.layerKafkajs({ brokers: kafkaBrokers, clientId: "k2-test-admin" })))
      yield* createTopics(s)
      yield* publish(s, { eventsPerSymbolPerDay: eventsAfter })
      const second = spawnIngest(s)
      const code = yield* Effect.promise(() => second.exited)
      assert.strictEqual(code, 1, second.output())
      assert.match(second.output(), refusal)
      assertExactlyOnce(yield* checkTables(s), r, "after the refused start")
    })

  it.live("a topic deleted and re-created under the same name, its log below the marker: the next start exits 1 naming it, the table untouched", () =>
    recreated(20, /ends at offset \d+, but table (trades|quotes) holds its records up to offset \d+: the topic was deleted and re-created/), 300_000)

  it.live("a topic deleted and re-created, refilled past the marker: its topic id tells it apart, the next start exits 1, the table untouched", () =>
    recreated(400, /is in topic id [0-9a-f-]{36}, but table (trades|quotes) holds the records of topic id [0-9a-f-]{36} under that name: the topic was deleted and made again/), 300_000)

  it.live("1% poison: each in the DLQ with its reason; produced == written + dead-lettered", () =>
    Effect.gen(function*() {
      const s = scenario()
      yield* createTopics(s)
      const r = yield* publish(s, { eventsPerSymbolPerDay: 5_000, faults: { poison: 0.01 } })
      assert.isAbove(r.totals.poison, 500)
      const ingest = spawnIngest(s)
      const c = yield* waitForRows(s, expectedRows(r), 240_000)
      yield* Effect.sleep("2 seconds")
      assert.strictEqual(yield* stop(ingest), 0, ingest.output())
      assert.isDefined(c, ingest.output())
      assertExactlyOnce(yield* checkTables(s), r, "poison")
      const letters = yield* readTopics(s, topicsOf(s.exchange).map(dlqTopicName), "dlq-reader")
      assert.strictEqual(letters.length, r.totals.poison)
      // Where each letter says it came from holds the very record: its value and its message id
      // (a poison record carries its own id in k2-correlation-id), each poison record once.
      const sources = new Map(
        (yield* readTopics(s, topicsOf(s.exchange), "source-reader")).map((x) => [`${x.topic}:${x.partition}:${x.record.offset}`, x.record])
      )
      const ids = new Set<string>()
      for (const { record, topic } of letters) {
        const h = record.headers
        const context = JSON.stringify(h)
        // The simulator's poison is garbage led by 0xff or JSON text: neither is a Confluent frame.
        assert.strictEqual(h[Header.dlqReason], "NotFramed", context)
        assert.include(h[Header.dlqDetail] ?? "", "magic byte", context)
        assert.strictEqual(`${h[Header.dlqSourceTopic]}.dlq`, topic, context)
        const source = sources.get(`${h[Header.dlqSourceTopic]}:${h[Header.dlqSourcePartition]}:${h[Header.dlqSourceOffset]}`)
        assert.isDefined(source, `no source record at the letter's coordinates: ${context}`)
        assert.deepStrictEqual(record.value, source!.value, context)
        assert.match(h[Header.correlationId] ?? "", /:poison-\d+$/, context)
        assert.strictEqual(h[Header.correlationId], source!.headers[Header.correlationId], context)
        ids.add(h[Header.correlationId]!)
      }
      assert.strictEqual(ids.size, r.totals.poison, "every poison record has a letter of its own")
    }), 600_000)
})


/** `spawnIngest`, SIGKILLed at the end of the test if still running (a failed check leaves none behind). */
const spawnOwned = (s: Scenario, extra: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.sync(() => spawnIngest(s, extra)),
    (p) => Effect.sync(() => p.child.exitCode === null && p.child.signalCode === null && p.child.kill("SIGKILL"))
  )

/** Rows the process says it committed (its last progress line), 0 before its first. */
const rowsCommittedBy = (out: string) => Number([...out.matchAll(/rows committed (\d+)/g)].at(-1)?.[1] ?? 0)

/** Polls `p`'s output until `test` holds; fails with `logs` if the time is up or `p` exits first. */
const outputShows = (p: IngestProcess, test: (out: string) => boolean, timeoutMs: number, logs: () => string) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    while (!test(p.output())) {
      if (p.child.exitCode !== null || Date.now() > deadline) assert.fail(`pid ${p.child.pid}: not seen in its output\n${logs()}`)
      yield* Effect.sleep("250 millis")
    }
  })

/** Every record of `topics`, read to their ends by a group of its own, with where each is. */
const readTopics = (s: Scenario, topics: ReadonlyArray<string>, reader: string) =>
  Effect.scoped(Effect.gen(function*() {
    const source = yield* KafkaSource
    const consumer = yield* source.subscribe({ groupId: `${s.group}-${reader}`, topics, startFrom: "earliest" })
    const marks = yield* Effect.forEach(topics, (t) => consumer.watermarks(t))
    const end = marks.flat().reduce((n, m) => n + Number(m.high - m.low), 0)
    const records: Array<{ readonly topic: string; readonly partition: number; readonly record: KafkaRecord }> = []
    if (end > 0) {
      yield* consumer.batches.pipe(
        Stream.takeUntil((batch) => {
          for (const record of batch.records) records.push({ topic: batch.topic, partition: batch.partition, record })
          return records.length >= end
        }),
        Stream.runDrain,
        Effect.timeout("120 seconds")
      )
    }
    return records
  })).pipe(Effect.provide(Kafkajs.layerKafkajs({ brokers: kafkaBrokers, clientId: `k2-test-${reader}` })))

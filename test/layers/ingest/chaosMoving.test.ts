/**
 * Streams that move between partitions, under seeded faults: a producer sends each stream's
 * records (contiguous source_sequence, no duplicates, no gaps) keyed to one partition, then to
 * another and back, while flushes fail (the partition restarts from the tables, with its
 * partners; its loads may be slow, or its batches come slowly, while a member comes and goes),
 * commits' answers are lost, a second ingestor joins or leaves (revokes) and an ingestor crashes
 * and restarts. A stream moves only once its records on the partition it leaves were delivered (a
 * producer re-keying a quiet stream). Once the group has caught up the table holds every record
 * once: none was dropped as a duplicate. Sequence events are counted, not asserted: a stream that
 * moves to a partition of the other process starts fresh there, and back it reports a false GAP,
 * and a restart reads a moved stream's partitions again side by side (docs/sequence-integrity.md).
 * K2_CHAOS_MOVING_SEEDS=N runs seeds 1..N; K2_CHAOS_MOVING_REPORT=1 prints the counts.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Stream } from "effect"
import type { TradeRow } from "../../../src/domain/rows.ts"
import { sourceTopicSpecs } from "../../../src/domain/wire.ts"
import * as Ingest from "../../../src/layers/ingest/ingestor.ts"
import * as KafkaMemory from "../../../src/layers/kafka/memory.ts"
import * as Lakehouse from "../../../src/layers/lakehouse.ts"
import { Catalog, catalogError, CatalogUnavailable } from "../../../src/services/Catalog.ts"
import { KafkaAdmin, KafkaSink } from "../../../src/services/KafkaSink.ts"
import { KafkaSource } from "../../../src/services/KafkaSource.ts"
import { commitAnswerLost, failingWrites, ingestorsOver, isIngestionCommit, seeded } from "../../support/chaos.ts"
import { makeTrades } from "../../support/fixtures.ts"
import { ASX_TOPICS, ingestorLayer, tradeRecords } from "../../support/memoryFeed.ts"
import { checkTable, sequenceEvents } from "../../support/tableCheck.ts"
import { warehouseOptions } from "../../support/warehouse.ts"

const TOPIC = ASX_TOPICS[0]!
const PARTITIONS = 3
const GROUP = Ingest.defaultIngestConfig.groupId
const SYMBOLS = ["AAA", "BBB", "CCC", "DDD", "EEE"]
const PER_STREAM = 60

const FAULTS = ["slowLoads", "slowDelivery", "writesFail", "catalogDown", "unknownLanded", "unknownLost", "crash", "join", "leave"] as const
type Fault = typeof FAULTS[number]

interface MovingOutcome {
  readonly seed: number
  readonly rows: number
  readonly expected: number
  readonly distinctCoordinates: number
  readonly distinctMessageIds: number
  readonly moves: number
  readonly events: ReadonlyArray<string>
  readonly log: ReadonlyArray<string>
  readonly caughtUp: boolean
  readonly status: string
  /** Whether a second ingestor ever ran (a stream could move to a partition of another process). */
  readonly joined: boolean
}

const runMoving = (seed: number, budget: number) =>
  Effect.gen(function*() {
    const random = seeded(seed)
    const draw = (n: number) => Math.floor(random() * n)
    const broker = new KafkaMemory.MemoryBroker()
    const kafka = KafkaMemory.layerMemory(broker, { maxBatchRecords: 20 })
    // One commit attempt: a refused commit fails the flush, and the partition restarts from the tables.
    const options = { ...warehouseOptions("sqlite"), sink: { maxCommitAttempts: 1 } }
    const state = { faultsLeft: budget, catalogDown: 0, writesFail: 0, slowLoads: 0, slowBatches: 0, log: [] as Array<string> }
    const pending: Array<Fault> = []
    const down = (what: string) => catalogError(new CatalogUnavailable({ detail: `injected outage (${what})` }))

    const storage = Lakehouse.storageLayer(options)
    const faulty = Layer.effect(Catalog)(Effect.gen(function*() {
      const catalog = yield* Catalog
      return Catalog.of({
        ...catalog,
        loadTable: (id) =>
          Effect.suspend(() => {
            if (state.catalogDown > 0) return (state.catalogDown--, down("load"))
            // A slow catalog: a restart reading the tables takes long enough for a rebalance to come meanwhile.
            if (state.slowLoads > 0) return (state.slowLoads--, Effect.sleep(50 + draw(200)).pipe(Effect.andThen(catalog.loadTable(id))))
            return catalog.loadTable(id)
          }),
        commitTable: (id, requirements, updates) =>
          Effect.suspend(() => {
            if (state.catalogDown > 0) return (state.catalogDown--, down("commit"))
            if (!isIngestionCommit(updates) || state.faultsLeft <= 0 || random() < 0.4) {
              return catalog.commitTable(id, requirements, updates)
            }
            state.faultsLeft--
            const fault = FAULTS[draw(FAULTS.length)]!
            state.log.push(`${id.name}:${fault}`)
            switch (fault) {
              case "unknownLanded":
                return commitAnswerLost(catalog, id, requirements, updates, true)
              case "unknownLost":
                return commitAnswerLost(catalog, id, requirements, updates, false)
              case "catalogDown":
                state.catalogDown = 1 + draw(3)
                return down("commit")
              case "writesFail":
                state.writesFail = 1 + draw(3)
                return catalog.commitTable(id, requirements, updates)
              case "slowDelivery":
                // The flush fails, batches come slowly, and the ingest crashes or a partner's flush fails meanwhile.
                state.slowBatches = 2 + draw(6)
                pending.push(random() < 0.5 ? "crash" : random() < 0.5 ? "join" : "leave")
                state.writesFail = 1 + draw(2)
                return down("commit")
              case "slowLoads":
                // The flush fails, and the restart's loads are slow.
                state.slowLoads = 1 + draw(6)
                // A member comes and goes meanwhile (or one leaves): partitions revoked and assigned again.
                pending.push(...(random() < 0.6 ? ["join", "leave"] as const : ["leave"] as const))
                return down("commit")
              case "crash":
              case "join":
              case "leave":
                pending.push(fault)
                return catalog.commitTable(id, requirements, updates)
            }
          })
      })
    })).pipe(Layer.provide(storage))
    const files = failingWrites(storage, state)
    const lakehouse = Lakehouse.layerOn(Layer.merge(faulty, files), options.sink)

    // The highest offset (exclusive) of each partition delivered to any consumer of the group.
    const delivered = Array.from({ length: PARTITIONS }, () => 0)
    const observing = Layer.effect(KafkaSource)(Effect.gen(function*() {
      const inner = yield* KafkaSource
      return KafkaSource.of({
        ...inner,
        subscribe: (o) =>
          Effect.map(inner.subscribe(o), (consumer) => ({
            ...consumer,
            // A slow consumer: a partition restarted holds records to read again for longer.
            batches: consumer.batches.pipe(Stream.tap((b) =>
              Effect.suspend(() => state.slowBatches > 0 ? (state.slowBatches--, Effect.sleep(30 + draw(100))) : Effect.void).pipe(
                Effect.andThen(Effect.sync(() => {
                  if (b.topic === TOPIC) delivered[b.partition] = Math.max(delivered[b.partition]!, Number(b.nextOffset))
                }))
              )
            ))
          }))
      })
    })).pipe(Layer.provideMerge(kafka))
    const env = yield* Layer.build(Layer.mergeAll(observing, lakehouse))

    const send = (records: Parameters<KafkaSink["Service"]["send"]>[0]) =>
      Effect.gen(function*() {
        yield* (yield* KafkaSink).send(records)
      }).pipe(Effect.provide(env))
    yield* Effect.gen(function*() {
      yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs([TOPIC], PARTITIONS)!)
    }).pipe(Effect.provide(env))
    const logEnd = (p: number) => {
      const t = broker.topics.get(TOPIC)!
      return t.base[p]! + t.partitions[p]!.length
    }

    // Each stream: its records, how many are sent, its partition, and the end offset of its last
    // records there (it may move once they were delivered, and a tick has passed).
    const streams = SYMBOLS.map((symbol, i) => ({
      trades: makeTrades({ count: PER_STREAM, symbols: [symbol], days: 0.01, idPrefix: symbol }) as ReadonlyArray<TradeRow>,
      sent: 0,
      partition: i % PARTITIONS,
      sentUpTo: 0,
      deliveredAt: -1
    }))
    const expected = SYMBOLS.length * PER_STREAM
    let moves = 0
    let joined = false

    const { progressOf, start } = ingestorsOver(
      () => ingestorLayer({ settings: { topics: [TOPIC], commitIntervalMs: 30, flushRows: 40, maxBufferedRows: 200, checkpointIntervalMs: 0 } }),
      env
    )
    const running = [yield* start()]
    let reached = false
    for (let tick = 0; tick < 1_500; tick++) {
      // The producer: a few records of some streams, a stream moving once its last ones were delivered.
      for (const s of streams) {
        if (s.deliveredAt < 0 && delivered[s.partition]! >= s.sentUpTo) s.deliveredAt = tick
        if (s.sent >= PER_STREAM || random() < 0.4) continue
        if (s.deliveredAt >= 0 && tick > s.deliveredAt + 1 && random() < 0.3) {
          s.partition = (s.partition + 1 + draw(PARTITIONS - 1)) % PARTITIONS
          s.deliveredAt = -1
          moves++
          state.log.push(`move:${s.trades[0]!.symbol}@${s.sent}->${s.partition}`)
        }
        const n = Math.min(1 + draw(5), PER_STREAM - s.sent)
        yield* send(tradeRecords(s.trades.slice(s.sent, s.sent + n), s.partition))
        s.sent += n
        s.sentUpTo = logEnd(s.partition)
        s.deliveredAt = -1
      }
      // Now and then a second member joins or leaves of the driver's own accord (a revoke).
      if (state.faultsLeft > 0 && random() < 0.03) {
        state.faultsLeft--
        pending.push(running.length < 2 ? "join" : "leave")
      }
      const fault = pending.shift()
      if (fault !== undefined) state.log.push(`act:${fault}`)
      if (fault === "crash") {
        yield* Fiber.interrupt(running.shift()!)
        running.push(yield* start())
      } else if (fault === "join" && running.length < 2) {
        joined = true
        running.push(yield* start())
      } else if (fault === "leave" && running.length > 1) {
        yield* Fiber.interrupt(running.splice(draw(running.length), 1)[0]!)
      }
      for (const f of running) {
        const exit = f.pollUnsafe()
        if (exit !== undefined) return yield* Effect.die(new Error(`seed ${seed}: an ingestor stopped: ${String(exit)} after ${state.log.join(" ")}`))
      }
      if (pending.length === 0 && streams.every((s) => s.sent >= PER_STREAM)) {
        const ps = yield* Effect.forEach(running, progressOf)
        const ends = Array.from({ length: PARTITIONS }, (_, p) => logEnd(p)).reduce((a, b) => a + b, 0)
        const g = broker.groups.get(GROUP)
        const atEnd = Array.from({ length: PARTITIONS }, (_, p) => (g?.committed.get(`${TOPIC}:${p}` as never) ?? 0n) === BigInt(logEnd(p)))
        if (
          ps.every((p) => p !== undefined && p.uncommitted === 0) && ps.reduce((n, p) => n + p!.partitions, 0) === PARTITIONS &&
          ps.reduce((n, p) => n + p!.position, 0) === ends && atEnd.every((c) => c)
        ) {
          reached = true
          break
        }
      }
      yield* Effect.sleep("20 millis")
    }
    const ps = yield* Effect.forEach(running, progressOf)
    const g = broker.groups.get(GROUP)
    const status = JSON.stringify({
      ingestors: ps.map((p) => p && { position: p.position, uncommitted: p.uncommitted, partitions: p.partitions, restarts: p.restarts }),
      offsets: Array.from({ length: PARTITIONS }, (_, p) => `${g?.committed.get(`${TOPIC}:${p}` as never)}/${logEnd(p)}`)
    })
    for (const f of running) yield* Fiber.interrupt(f)
    const trades = yield* checkTable("trades").pipe(Effect.provide(Lakehouse.layer(options)))
    const events = yield* sequenceEvents(options, "kind, symbol, expected::VARCHAR AS expected, received::VARCHAR AS received").pipe(
      Effect.map((rows) => rows.map((e) => `${e.kind}:${e.symbol}:${e.expected}/${e.received}`)),
      Effect.orElseSucceed(() => [] as Array<string>)
    )
    return {
      seed,
      rows: trades.rows,
      expected,
      distinctCoordinates: trades.distinctCoordinates,
      distinctMessageIds: trades.distinctMessageIds,
      moves,
      events,
      log: state.log,
      caughtUp: reached,
      status,
      joined
    } satisfies MovingOutcome
  }).pipe(Effect.scoped)

const SEEDS = Number(process.env.K2_CHAOS_MOVING_SEEDS ?? 8)

describe("Ingestion of streams moving between partitions under seeded faults", () => {
  it.live(`seeds 1..${SEEDS}: every record once in the table, none dropped as a duplicate`, () =>
    Effect.gen(function*() {
      const outcomes = yield* Effect.forEach(
        Array.from({ length: SEEDS }, (_, i) => i + 1),
        (seed) => runMoving(seed, 14),
        { concurrency: 4 }
      )
      const withEvents = outcomes.filter((o) => o.events.length > 0)
      if (process.env.K2_CHAOS_MOVING_REPORT !== undefined) {
        console.log(JSON.stringify({
          seeds: outcomes.length,
          lost: outcomes.filter((o) => o.rows < o.expected).map((o) => ({ seed: o.seed, missing: o.expected - o.rows })),
          moves: outcomes.reduce((n, o) => n + o.moves, 0),
          seedsWithEvents: withEvents.length,
          events: withEvents.reduce((n, o) => n + o.events.length, 0),
          seedsWithEventsOneProcess: withEvents.filter((o) => !o.joined).length,
          seedsOneProcess: outcomes.filter((o) => !o.joined).length,
          eventsOneProcess: withEvents.filter((o) => !o.joined).reduce((n, o) => n + o.events.length, 0),
          kinds: withEvents.flatMap((o) => o.events.map((e) => e.split(":")[0])).reduce<Record<string, number>>((m, k) => ({ ...m, [k!]: (m[k!] ?? 0) + 1 }), {})
        }))
        for (const o of withEvents) console.log(`seed ${o.seed}: ${o.events.join(" ")} | ${o.log.join(" ")}`)
      }
      for (const o of outcomes) {
        const context = `seed ${o.seed}, ${o.log.join(" ")}; events ${o.events.join(" ")}`
        assert.isTrue(o.caughtUp, `${context}: the group caught up (${o.rows}/${o.expected} rows, ${o.status})`)
        assert.strictEqual(o.rows, o.expected, `${context}: every record in the table`)
        assert.strictEqual(o.distinctCoordinates, o.rows, `${context}: no duplicate (topic, partition, offset)`)
        assert.strictEqual(o.distinctMessageIds, o.rows, `${context}: no duplicate message_id`)
      }
      assert.isAtLeast(outcomes.reduce((n, o) => n + o.moves, 0), SEEDS)
    }), 600_000)
})

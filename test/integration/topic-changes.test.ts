/**
 * Topics changing under a running `ingest` on the real broker (docs/kafka.md, "Topics changing
 * under a running ingest"), under both clients.
 */
import { assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { dlqTopicName, sourceTopicSpecs } from "../../src/domain/wire.ts"
import * as Kafkajs from "../../src/layers/kafka/kafkajs.ts"
import { KafkaAdmin } from "../../src/services/KafkaSink.ts"
import { checkTables, createTopics, expectedRows, publish, spawnIngest, stop, topicsOf, uniqueExchange, waitForRows } from "../support/ingestHarness.ts"
import { ensureBroker, kafkaBrokers } from "../support/kafka.ts"
import { warehouseOptions } from "../support/warehouse.ts"

beforeAll(() => ensureBroker(), 600_000)

/**
 * Topics of a new exchange (2 partitions each) and an ingest of them under `client`, once it owns
 * their partitions: its start-up is not what these tests measure.
 */
const ingesting = (client: "platformatic" | "kafkajs") =>
  Effect.gen(function*() {
    const exchange = uniqueExchange()
    const s = { exchange, group: `k2-test-${exchange.toLowerCase()}`, partitions: 2, options: warehouseOptions("sqlite") }
    yield* createTopics(s)
    const ingest = spawnIngest(s, ["--client", client])
    yield* Effect.gen(function*() {
      for (let i = 0; i < 600 && !/partitions 4 /.test(ingest.output()); i++) yield* Effect.sleep("100 millis")
    }).pipe(Effect.onInterrupt(() => stop(ingest)))
    return { s, ingest }
  })

describe("topics changing under a running ingest", () => {
  for (const client of ["platformatic", "kafkajs"] as const) {
    it.live(`${client}: partitions added while it runs are read within seconds, exactly once`, () =>
      Effect.gen(function*() {
        const { s, ingest } = yield* ingesting(client)
        try {
          // Two days, so the second publish's events are new ones, not the first's again.
          const first = yield* publish(s, { eventsPerSymbolPerDay: 100, startDate: "2026-03-02", tradingDays: 1 })
          const before = yield* waitForRows(s, expectedRows(first), 20_000)
          assert.isDefined(before, ingest.output())
          yield* Effect.gen(function*() {
            yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs(topicsOf(s.exchange), 4)!)
          }).pipe(Effect.provide(Kafkajs.layerKafkajs({ brokers: kafkaBrokers, clientId: "k2-test-admin" })))
          // Keyed by symbol over 4 partitions now: some symbols' records go to the new ones only.
          const second = yield* publish(s, { eventsPerSymbolPerDay: 100, startDate: "2026-03-03", tradingDays: 1 })
          const expected = expectedRows(first) + expectedRows(second)
          yield* waitForRows(s, expected, 15_000)
          const c = yield* checkTables(s)
          assert.strictEqual(c.trades.rows + c.quotes.rows, expected, ingest.output())
          assert.strictEqual(c.trades.distinctCoordinates + c.quotes.distinctCoordinates, expected)
        } finally {
          yield* stop(ingest)
        }
      }), 60_000)

    it.live(`${client}: a DLQ deleted while it runs is made again at the next poison record, which goes there; nothing stalls`, () =>
      Effect.gen(function*() {
        // Its start has made the DLQs.
        const { s, ingest } = yield* ingesting(client)
        try {
          const dlqs = topicsOf(s.exchange).map(dlqTopicName)
          yield* Effect.gen(function*() {
            const admin = yield* KafkaAdmin
            yield* admin.deleteTopics(dlqs)
            for (let i = 0; i < 100 && (yield* admin.listTopics()).some((t) => dlqs.includes(t)); i++) yield* Effect.sleep("100 millis")
          }).pipe(Effect.provide(Kafkajs.layerKafkajs({ brokers: kafkaBrokers, clientId: "k2-test-admin" })))
          const r = yield* publish(s, { eventsPerSymbolPerDay: 100, faults: { poison: 0.05 } })
          assert.isAbove(r.totals.poison, 0)
          const c = yield* waitForRows(s, expectedRows(r), 20_000)
          assert.isDefined(c, ingest.output())
          assert.strictEqual(c!.trades.rows + c!.quotes.rows, expectedRows(r), ingest.output())
          assert.match(ingest.output(), /dead-letter topic \S+\.dlq is missing \(deleted\?\): making it again/)
        } finally {
          yield* stop(ingest)
        }
      }), 60_000)
  }
})

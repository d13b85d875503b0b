/**
 * K2's Confluent-compatible registry client against a real registry (Apicurio Registry's ccompat
 * API, scripts/schema-registry.sh) and the real broker: `produce` registers the repo's schemas
 * and frames every record with the registry's ids; `ingest` decodes them into tables equal to
 * what was produced; a record framed with an id the registry never gave goes to the DLQ, one
 * framed with another version of the trade schema registered under the subject lands.
 */
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { promisify } from "node:util"
import { assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Exit, Stream } from "effect"
import { unscaledToBytes } from "../../src/domain/avro/binary.ts"
import { avroTypeOf } from "../../src/domain/avro/avscTypes.ts"
import { makeWireCodec, type WireMessage } from "../../src/domain/avro/codec.ts"
import { EMBEDDED_SCHEMA_IDS, instrumentSchema, quoteSchema, tradeSchema } from "../../src/domain/avro/schemas.ts"
import { toUnscaled } from "../../src/domain/decimal.ts"
import { dlqTopicName, Header, instrumentsTopicName, valueSubject } from "../../src/domain/wire.ts"
import { selectPlanned } from "../../src/layers/duckdb/readPlan.ts"
import * as Kafkajs from "../../src/layers/kafka/kafkajs.ts"
import { layerHttp, wireCodecFor } from "../../src/layers/kafka/schemaRegistry.ts"
import * as Lakehouse from "../../src/layers/lakehouse.ts"
import { KafkaSink } from "../../src/services/KafkaSink.ts"
import { type KafkaRecord, KafkaSource } from "../../src/services/KafkaSource.ts"
import { SchemaRegistry } from "../../src/services/SchemaRegistry.ts"
import { TableScanner } from "../../src/services/TableScanner.ts"
import { makeTrades } from "../support/fixtures.ts"
import { createTopics, type Scenario, spawnIngest, stop, topicsOf, uniqueExchange, waitForRows } from "../support/ingestHarness.ts"
import { ensureBroker, kafkaBrokers } from "../support/kafka.ts"
import { ensureSchemaRegistry, schemaRegistryUrl } from "../support/schemaRegistry.ts"
import { warehouseOptions } from "../support/warehouse.ts"
import { ok } from "../support/wire.ts"

const repo = path.resolve(import.meta.dirname, "../..")
const run = promisify(execFile)
const kafka = Kafkajs.layerKafkajs({ brokers: kafkaBrokers, clientId: "k2-test-schema-registry" })
const registryEnv = { K2_SCHEMA_REGISTRY_URL: schemaRegistryUrl }

beforeAll(() => {
  ensureBroker()
  ensureSchemaRegistry()
}, 600_000)

const registry = (method: "GET" | "POST", route: string, body?: unknown) =>
  Effect.promise(async () => {
    const res = await fetch(`${schemaRegistryUrl}${route}`, {
      method,
      headers: { "content-type": "application/vnd.schemaregistry.v1+json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
    return { status: res.status, json: await res.json() as Record<string, unknown> }
  })

/** The registry's latest version of a subject: its id and schema. */
const latest = (subject: string) =>
  Effect.map(registry("GET", `/subjects/${encodeURIComponent(subject)}/versions/latest`), ({ status, json }) => {
    assert.strictEqual(status, 200, `${subject} is registered: ${JSON.stringify(json)}`)
    return { id: Number(json.id), schema: JSON.parse(String(json.schema)) as object }
  })

/** Every record of `topics`, read from the start by a fresh group, until `count` of them. */
const readTopics = (topics: ReadonlyArray<string>, count: number) =>
  Effect.scoped(Effect.gen(function*() {
    const consumer = yield* (yield* KafkaSource).subscribe({
      groupId: `k2-test-read-${crypto.randomUUID()}`,
      topics,
      startFrom: "earliest"
    })
    return yield* consumer.batches.pipe(
      Stream.flatMap((b) => Stream.fromArray(b.records.map((record) => ({ topic: b.topic, partition: b.partition, record })))),
      Stream.take(count),
      Stream.runCollect
    )
  })).pipe(Effect.timeout("120 seconds"), Effect.provide(kafka))

/** The Confluent framing's schema id (magic byte 0, then a big-endian int32). */
const framedId = (r: KafkaRecord) => {
  assert.strictEqual(r.value![0], 0, "magic byte")
  return Buffer.from(r.value!).readInt32BE(1)
}

/** decimal(18, 8) as DuckDB prints it. */
const fixed8 = (d: Parameters<typeof toUnscaled>[0]) => {
  const u = toUnscaled(d)!
  return `${u / 100_000_000n}.${(u % 100_000_000n).toString().padStart(8, "0")}`
}

/** One comparable line per record: its coordinates and the fields its table row holds. */
const lineOf = (at: string, m: WireMessage) => {
  switch (m.kind) {
    case "trade": {
      const t = m.value
      return `${at} ${t.message_id} ${t.symbol} ${t.exchange} ${t.exchange_timestamp} ${t.trade_id} ${fixed8(t.price)} ${fixed8(t.quantity)} ${t.side}`
    }
    case "quote": {
      const q = m.value
      return `${at} ${q.message_id} ${q.symbol} ${q.exchange} ${q.exchange_timestamp} ${q.quote_id} ${fixed8(q.bid_price)} ${fixed8(q.bid_size)} ${fixed8(q.ask_price)} ${fixed8(q.ask_size)}`
    }
    case "instrument": {
      const i = m.value
      return `${at} ${i.symbol} ${i.exchange} ${i.name} ${i.isin} ${i.currency}`
    }
  }
}

const at = "kafka_topic || ':' || kafka_partition || ':' || kafka_offset"

/** The same lines from a table, sorted. */
const linesOf = (namespace: string, name: string, columns: string) =>
  Effect.gen(function*() {
    const plan = yield* (yield* TableScanner).plan({ namespace, name })
    const rows = yield* selectPlanned(plan, `${at} || ' ' || ${columns} AS line`)
    return rows.map((r) => String(r.line)).sort()
  })

const tradeLines = linesOf(
  "market_data",
  "trades",
  "concat_ws(' ', message_id, symbol, exchange, epoch_us(exchange_timestamp), trade_id, price, quantity, side)"
)

const tableLines = (options: Lakehouse.LakehouseOptions) =>
  Effect.gen(function*() {
    return {
      trade: yield* tradeLines,
      quote: yield* linesOf(
        "market_data",
        "quotes",
        "concat_ws(' ', message_id, symbol, exchange, epoch_us(exchange_timestamp), quote_id, bid_price, bid_size, ask_price, ask_size)"
      ),
      instrument: yield* linesOf("reference_data", "instruments", "concat_ws(' ', symbol, exchange, name, coalesce(isin, 'null'), currency)")
    }
  }).pipe(Effect.provide(Lakehouse.layer(options)))

describe("schema registry (Apicurio Registry, Confluent-compatible API)", () => {
  it.live("produce registers the subjects and frames with the registry's ids; ingest's tables equal what was produced", () =>
    Effect.gen(function*() {
      const exchange = uniqueExchange()
      const [trades, quotes] = topicsOf(exchange) as [string, string]
      const instruments = instrumentsTopicName(exchange)
      // Registered first, a schema of this run's own: on a fresh registry the repo's schemas would
      // otherwise get 1, 2 and 3, the embedded ids, and the test could not tell them apart.
      const decoy = yield* registry("POST", `/subjects/k2-test-decoy-${exchange}-value/versions`, {
        schemaType: "AVRO",
        schema: JSON.stringify({ type: "record", name: `Decoy${exchange}`, fields: [{ name: "x", type: "int" }] })
      })
      assert.strictEqual(decoy.status, 200, JSON.stringify(decoy.json))

      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-produce-registry-"))
      const reconciliation = path.join(dir, "reconciliation.json")
      yield* Effect.promise(() =>
        run(process.execPath, [
          "--disable-warning=ExperimentalWarning",
          path.join(repo, "src/programs/produce.ts"),
          "--brokers", kafkaBrokers.join(","),
          "--source", "sim", "--events", "300", "--seed", "11", "--exchange", exchange,
          "--partitions", "2",
          "--reconciliation", reconciliation
        ], { cwd: repo, timeout: 300_000, env: { ...process.env, ...registryEnv } })
      )
      const report = JSON.parse(fs.readFileSync(reconciliation, "utf8")) as {
        totals: { trades: number; quotes: number; instruments: number }
      }

      // The subjects hold the repo's schemas, under the registry's ids.
      const ids = {
        trade: yield* latest(valueSubject(trades)),
        quote: yield* latest(valueSubject(quotes)),
        instrument: yield* latest(valueSubject(instruments))
      }
      assert.deepStrictEqual(ids.trade.schema, tradeSchema)
      assert.deepStrictEqual(ids.quote.schema, quoteSchema)
      assert.deepStrictEqual(ids.instrument.schema, instrumentSchema)
      assert.notDeepEqual(
        [ids.trade.id, ids.quote.id, ids.instrument.id],
        [EMBEDDED_SCHEMA_IDS.trade, EMBEDDED_SCHEMA_IDS.quote, EMBEDDED_SCHEMA_IDS.instrument],
        "the registry's ids differ from the embedded ones (a registry first written to by something else: restart it)"
      )

      // Every record carries its subject's id in its framing, and decodes with those ids.
      const total = report.totals.trades + report.totals.quotes + report.totals.instruments
      const records = yield* readTopics([trades, quotes, instruments], total)
      assert.strictEqual(records.length, total)
      const idOfTopic: Record<string, number> = { [trades]: ids.trade.id, [quotes]: ids.quote.id, [instruments]: ids.instrument.id }
      const codec = makeWireCodec({ tradeSchemaId: ids.trade.id, quoteSchemaId: ids.quote.id, instrumentSchemaId: ids.instrument.id })
      const produced: Record<WireMessage["kind"], Array<string>> = { trade: [], quote: [], instrument: [] }
      for (const { topic, partition, record } of records) {
        assert.strictEqual(framedId(record), idOfTopic[topic], `${topic}:${partition}:${record.offset}`)
        const m = ok(codec.decode(record.value!))
        produced[m.kind].push(lineOf(`${topic}:${partition}:${record.offset}`, m))
      }
      assert.strictEqual(produced.trade.length, report.totals.trades)
      assert.strictEqual(produced.quote.length, report.totals.quotes)

      const s: Scenario = {
        exchange,
        group: `k2-registry-${exchange.toLowerCase()}`,
        partitions: 2,
        options: warehouseOptions("sqlite"),
        topics: [trades, quotes, instruments]
      }
      const ingest = spawnIngest(s, [], registryEnv)
      yield* waitForRows(s, report.totals.trades + report.totals.quotes, 120_000)
      // SIGTERM drains: the buffered instruments are committed before exit.
      assert.strictEqual(yield* stop(ingest), 0, ingest.output())
      const landed = yield* tableLines(s.options)
      assert.deepStrictEqual(landed.trade, produced.trade.sort(), ingest.output())
      assert.deepStrictEqual(landed.quote, produced.quote.sort(), ingest.output())
      assert.deepStrictEqual(landed.instrument, produced.instrument.sort(), ingest.output())
    }), 600_000)

  it.live("a record framed with a schema id the registry never gave goes to the DLQ; one of an evolved schema version lands", () =>
    Effect.gen(function*() {
      const exchange = uniqueExchange()
      const [trades, quotes] = topicsOf(exchange) as [string, string]
      const s: Scenario = { exchange, group: `k2-registry-${exchange.toLowerCase()}`, partitions: 1, options: warehouseOptions("sqlite") }
      yield* createTopics(s)

      // The client in this process: registers the subjects, resolves ids both ways.
      const { codec, unknownId } = yield* Effect.gen(function*() {
        const codec = yield* wireCodecFor({ trades, quotes })
        const client = yield* SchemaRegistry
        assert.deepStrictEqual(yield* client.schemaById(codec.tradeSchemaId), tradeSchema)
        const unknownId = Math.max(codec.tradeSchemaId, codec.quoteSchemaId) + 1_000_000
        const missing = yield* Effect.exit(client.schemaById(unknownId))
        assert.isTrue(Exit.isFailure(missing), `the registry has no schema ${unknownId}`)
        return { codec, unknownId }
      }).pipe(Effect.provide(layerHttp({ url: schemaRegistryUrl })))

      // A newer producer's version of the trade schema (one more field, with a default),
      // registered under the trades subject: ingest learns its id from the registry.
      const evolved = { ...tradeSchema, fields: [...tradeSchema.fields, { name: "venue", type: ["null", "string"], default: null }] }
      const version = yield* registry("POST", `/subjects/${encodeURIComponent(valueSubject(trades))}/versions`, {
        schemaType: "AVRO",
        schema: JSON.stringify(evolved)
      })
      assert.strictEqual(version.status, 200, JSON.stringify(version.json))
      const evolvedId = Number(version.json.id)
      assert.notStrictEqual(evolvedId, codec.tradeSchemaId)

      const [t1, t2, t3, t4] = makeTrades({ count: 4, symbols: ["BHP"], idPrefix: exchange.toLowerCase() })
        .map((t) => ({ ...t, exchange }))
      const [good1, bad, good2] = [t1!, t2!, t4!].map((t) => codec.encodeTrade(t))
      const reframed = Uint8Array.from(bad!)
      Buffer.from(reframed.buffer).writeInt32BE(unknownId, 1)
      const newer = Buffer.concat([
        Buffer.from([0, 0, 0, 0, 0]),
        avroTypeOf(evolved).toBuffer({
          ...t3!,
          exchange_timestamp: BigInt(t3!.exchange_timestamp),
          price: unscaledToBytes(toUnscaled(t3!.price)!),
          quantity: unscaledToBytes(toUnscaled(t3!.quantity)!),
          venue: "CXA"
        })
      ])
      newer.writeInt32BE(evolvedId, 1)
      const sent = [good1!, reframed, newer, good2!]
      yield* Effect.gen(function*() {
        yield* (yield* KafkaSink).send(sent.map((value) => ({ topic: trades, key: "BHP", value })))
      }).pipe(Effect.provide(kafka))

      const ingest = spawnIngest(s, [], registryEnv)
      const rows = yield* waitForRows(s, 3, 120_000)
      const [dead] = yield* readTopics([dlqTopicName(trades)], 1).pipe(
        Effect.map((rs) => rs.map((r) => r.record))
      )
      assert.strictEqual(yield* stop(ingest), 0, ingest.output())
      assert.strictEqual(rows!.trades.rows, 3, "the trades framed with the registry's ids landed")
      assert.include(ingest.output(), `schema id ${evolvedId} (k2.Trade) learned from the registry`)
      // Field by field as this process decodes them, the evolved one through the same resolution.
      codec.addWriterSchema(evolvedId, "trade", evolved)
      const expected = [0, 2, 3].map((offset) => lineOf(`${trades}:0:${offset}`, ok(codec.decode(sent[offset]!))))
      assert.deepStrictEqual(yield* tradeLines.pipe(Effect.provide(Lakehouse.layer(s.options))), expected.sort())
      assert.strictEqual(dead!.offset, 0n)
      assert.strictEqual(dead!.headers[Header.dlqReason], "UnknownSchemaId")
      assert.include(dead!.headers[Header.dlqDetail], String(unknownId))
      assert.strictEqual(dead!.headers[Header.dlqSourceOffset], "1")
      assert.deepStrictEqual(dead!.value, reframed, "the dead letter is the record as it came")
    }), 600_000)
})

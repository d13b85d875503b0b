/**
 * Traces end to end over OTLP/HTTP: `produce`, `ingest` and `serve` run as separate processes
 * against the real broker, configured only by OTEL_EXPORTER_OTLP_ENDPOINT pointing at a
 * receiver in this process.
 *
 * - A produced record carries its producer span's traceparent; the ingest batch that consumed
 *   it is a consumer span linked to that producer span; the flush that committed it is in that
 *   batch's trace (or links to it), with the Parquet write and catalog commit spans under it;
 *   ingest's log lines of that flush carry its trace id.
 * - One HTTP request to serve, with a W3C traceparent and a correlation id, yields a server
 *   span continuing the caller's trace with the query spans under it, and a log line carrying
 *   both the correlation id and the trace id.
 */
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Option, Stream } from "effect"
import { parseTraceparent } from "../../src/domain/traceContext.ts"
import { Header } from "../../src/domain/wire.ts"
import * as Kafkajs from "../../src/layers/kafka/kafkajs.ts"
import { KafkaSource } from "../../src/services/KafkaSource.ts"
import { createTopics, type Scenario, spawnIngest, stop, topicsOf, uniqueExchange, waitForRows } from "../support/ingestHarness.ts"
import { ensureBroker, kafkaBrokers } from "../support/kafka.ts"
import { otlpEnv, otlpReceiver, type ReceivedSpan, SpanKind } from "../support/otlp.ts"
import { freePort, jsonLogLines, spawnProgram, spawnServe, waitForHttp } from "../support/programs.ts"
import { warehouseOptions } from "../support/warehouse.ts"

beforeAll(() => ensureBroker(), 600_000)

/** The first batch of a topic, read back with its headers by a throwaway group. */
const firstBatch = (topic: string) =>
  Effect.scoped(Effect.gen(function*() {
    const consumer = yield* (yield* KafkaSource).subscribe({ groupId: `k2-otlp-reader-${Date.now()}`, topics: [topic] })
    const head = yield* Stream.runHead(consumer.batches)
    return Option.getOrThrow(head)
  })).pipe(Effect.provide(Kafkajs.layerKafkajs({ brokers: kafkaBrokers, clientId: "k2-test-reader" })))

/** Waits until `found` holds of the spans received so far. */
const spansWhere = (spans: ReadonlyArray<ReceivedSpan>, found: () => boolean, what: string) =>
  Effect.gen(function*() {
    const deadline = Date.now() + 30_000
    while (!found()) {
      if (Date.now() > deadline) {
        assert.fail(`no ${what} after 30 s; received: ${[...new Set(spans.map((s) => `${s.service}:${s.name}`))].join(", ")}`)
      }
      yield* Effect.sleep("200 millis")
    }
  })

/** Spans of `all` below `root` (children, grandchildren...). */
const descendants = (all: ReadonlyArray<ReceivedSpan>, root: ReceivedSpan): Array<ReceivedSpan> => {
  const out: Array<ReceivedSpan> = []
  const frontier = [root.spanId]
  while (frontier.length > 0) {
    const id = frontier.pop()!
    for (const s of all) {
      if (s.parentSpanId === id && s.traceId === root.traceId) {
        out.push(s)
        frontier.push(s.spanId)
      }
    }
  }
  return out
}

describe("OTLP traces", () => {
  it.live("produce → Kafka headers → ingest batch → flush → Parquet and catalog commit; serve's span tree; ids in the logs", () =>
    Effect.gen(function*() {
      const receiver = yield* otlpReceiver
      const exchange = uniqueExchange()
      const s: Scenario = { exchange, group: `k2-otlp-${exchange.toLowerCase()}`, partitions: 2, options: warehouseOptions("sqlite") }
      const env = { ...otlpEnv(receiver), K2_LOG_FORMAT: "json", K2_LOG_LEVEL: "debug" }
      yield* createTopics(s)

      // produce: a separate process, one event per symbol.
      const reconciliation = path.join(s.options.warehouse, "reconciliation.json")
      const produce = spawnProgram("produce", [
        "--brokers", kafkaBrokers.join(","),
        "--exchange", exchange,
        "--events", "1",
        "--partitions", String(s.partitions),
        "--reconciliation", reconciliation
      ], env)
      assert.strictEqual(yield* Effect.promise(() => produce.exited), 0, produce.output())
      const totals = (JSON.parse(fs.readFileSync(reconciliation, "utf8")) as { totals: { trades: number; quotes: number } }).totals

      // One record, as the broker holds it: its traceparent names an exported producer span.
      const [trades] = topicsOf(exchange) as [string, string]
      const batch = yield* firstBatch(trades)
      const record = batch.records[0]!
      const context = parseTraceparent(record.headers[Header.traceparent])
      assert.isDefined(context, `the record carries a traceparent: ${JSON.stringify(record.headers)}`)
      yield* spansWhere(receiver.spans, () => receiver.spans.some((x) => x.spanId === context!.spanId), "producer span")
      const producer = receiver.spans.find((x) => x.spanId === context!.spanId)!
      assert.strictEqual(producer.service, "k2-produce")
      assert.strictEqual(producer.traceId, context!.traceId)
      assert.strictEqual(producer.kind, SpanKind.producer)
      assert.strictEqual(producer.attributes["messaging.system"], "kafka")
      assert.isAtLeast(producer.attributes["messaging.batch.message_count"] as number, 1)

      // ingest: a separate process until everything is in the tables, then drained.
      const ingest = spawnIngest(s, ["--metrics-port", "0"], env)
      const ingestLogs = jsonLogLines(ingest)
      yield* Effect.addFinalizer(() => stop(ingest).pipe(Effect.ignore))
      const tables = yield* waitForRows(s, totals.trades + totals.quotes, 120_000)
      assert.strictEqual(tables!.trades.rows + tables!.quotes.rows, totals.trades + totals.quotes, ingest.output())
      assert.strictEqual(yield* stop(ingest), 0, ingest.output())

      const ingested = () => receiver.spans.filter((x) => x.service === "k2-ingest")
      // The batch of the record's partition (the producer span also sent to other partitions and topics).
      const consumes = (x: ReceivedSpan) =>
        x.kind === SpanKind.consumer && x.attributes["messaging.destination.name"] === trades &&
        x.attributes["messaging.destination.partition.id"] === String(batch.partition) &&
        x.links.some((l) => l.traceId === context!.traceId && l.spanId === context!.spanId)
      yield* spansWhere(receiver.spans, () => ingested().some(consumes), "consumer span linked to the producer span")
      const consumer = ingested().find(consumes)!
      assert.strictEqual(consumer.name, `process ${trades}`)
      assert.strictEqual(consumer.attributes["messaging.system"], "kafka")
      assert.strictEqual(consumer.attributes["messaging.consumer.group.name"], s.group)
      assert.isAtMost(consumer.attributes["messaging.kafka.offset"] as number, Number(record.offset))
      const link = consumer.links.find((l) => l.spanId === context!.spanId)!
      assert.strictEqual(link.attributes["messaging.kafka.offset"], Number(record.offset))
      assert.isTrue(descendants(ingested(), consumer).some((x) => x.name === "ingest.decode"), "decode under the batch")

      const flushes = (x: ReceivedSpan) =>
        x.name === "ingest.flush" && (x.parentSpanId === consumer.spanId || x.links.some((l) => l.spanId === consumer.spanId))
      yield* spansWhere(receiver.spans, () => ingested().some(flushes), "flush span of that batch")
      const flush = ingested().find(flushes)!
      if (flush.parentSpanId === consumer.spanId) assert.strictEqual(flush.traceId, consumer.traceId)
      const work = descendants(ingested(), flush).map((x) => x.name)
      for (const name of ["IcebergSink.append", "parquet.writeDataFiles", "iceberg.commit", "Catalog.commitTable", "KafkaSource.commit"]) {
        assert.include(work, name, `${name} under ingest.flush`)
      }
      const flushLogs = ingestLogs.filter((l) => l.trace_id === flush.traceId)
      assert.isAtLeast(flushLogs.length, 1, `a log line with the flush's trace id ${flush.traceId}`)
      assert.isTrue(flushLogs.every((l) => l.service === "ingest"))

      // serve: one request with the caller's trace context and correlation id.
      const port = yield* Effect.promise(freePort)
      const serve = spawnServe(s.options, port, env)
      const serveLogs = jsonLogLines(serve)
      yield* Effect.addFinalizer(() => stop(serve).pipe(Effect.ignore))
      yield* Effect.promise(() => waitForHttp(`http://127.0.0.1:${port}/ready`, serve))
      const traceId = randomBytes(16).toString("hex")
      const callerSpan = randomBytes(8).toString("hex")
      const correlation = `otlp-${exchange.toLowerCase()}`
      const response = yield* Effect.promise(() =>
        fetch(`http://127.0.0.1:${port}/v1/symbols`, {
          headers: { traceparent: `00-${traceId}-${callerSpan}-01`, "x-correlation-id": correlation }
        })
      )
      const body = yield* Effect.promise(() => response.text())
      assert.strictEqual(response.status, 200, body)
      assert.strictEqual(response.headers.get("x-correlation-id"), correlation)
      assert.strictEqual(yield* stop(serve), 0, serve.output())

      const served = () => receiver.spans.filter((x) => x.service === "k2-serve" && x.traceId === traceId)
      yield* spansWhere(receiver.spans, () => served().some((x) => x.kind === SpanKind.server), "server span of the request")
      const server = served().find((x) => x.kind === SpanKind.server)!
      assert.strictEqual(server.parentSpanId, callerSpan)
      assert.strictEqual(server.attributes["http.request.method"], "GET")
      assert.strictEqual(server.attributes["http.response.status_code"], 200)
      const tree = descendants(served(), server)
      const names = tree.map((x) => x.name)
      for (const name of ["QueryEngine.symbols", "Catalog.loadTable"]) assert.include(names, name, names.join(", "))
      assert.strictEqual(tree.length + 1, served().length, "every span of the trace hangs under the server span")
      assert.isTrue(tree.some((x) => x.attributes["k2.correlation_id"] === correlation), "the correlation id on the request's spans")
      const requestLogs = serveLogs.filter((l) => l.correlation_id === correlation)
      assert.isAtLeast(requestLogs.length, 1, serve.output())
      for (const l of requestLogs) assert.strictEqual(l.trace_id, traceId)
    }), 400_000)
})

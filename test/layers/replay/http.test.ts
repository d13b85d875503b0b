/**
 * `GET /v1/replay` over real HTTP (in process): the replay reads exactly the snapshots its
 * `K2-Snapshot-Ids` header names, even when ingestion commits between that answer and the plan.
 */
import { assert, layer } from "@effect/vitest"
import { Cause, Effect, Layer, Logger, Stream } from "effect"
import { tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import { DuckDbError } from "../../../src/layers/duckdb/DuckDb.ts"
import * as Server from "../../../src/layers/http/server.ts"
import { jsonLogger } from "../../../src/layers/telemetry/logging.ts"
import * as QueryLayer from "../../../src/layers/query/engine.ts"
import * as ReplayLayer from "../../../src/layers/replay/engine.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { ReplayEngine } from "../../../src/services/ReplayEngine.ts"
import { auth, baseUrl, get, KEYS, testOptions } from "../../integration/http-support.ts"
import { DAY, genTrades, T0 } from "../query/data.ts"
import { lakehouse, TRADES, warehouseDir } from "../query/fixture.ts"

const iso = (us: number) => new Date(us / 1000).toISOString()
const early = genTrades(200, { seed: 31, idPrefix: "early" })
const late = genTrades(50, { seed: 32, idPrefix: "late" })

/** Trades written once; quotes created, never written (a trades-only feed so far). */
const tradesOnly = Layer.effectDiscard(Effect.gen(function*() {
  const sink = yield* IcebergSink
  yield* sink.ensureTable(tables.trades)
  yield* sink.ensureTable(tables.quotes)
  yield* sink.append(TRADES, tradeColumns(early))
}))

/** The third instant of the early trades: BOOM's replay fails past it, at the same place every time. */
const boomAfter = [...new Set(early.map((t) => t.exchange_timestamp))].sort((a, b) => a - b)[2]!

/**
 * The engine, with ingestion committing more trades after the pin, before the replay plans;
 * asked for symbol BOOM, its stream fails past a fixed instant (a data file lost mid-replay).
 */
const racing = Layer.effect(ReplayEngine)(Effect.gen(function*() {
  const real = yield* ReplayEngine
  const sink = yield* IcebergSink
  return ReplayEngine.of({
    ...real,
    plan: (request) =>
      request.symbols?.includes("BOOM")
        ? real.plan({ ...request, symbols: [] }).pipe(Effect.map((events) =>
          Stream.concat(
            events.pipe(Stream.takeWhile((e) => e.exchange_timestamp <= boomAfter)),
            Stream.fail(new DuckDbError({ purpose: "replay window", reason: "Failed", message: "disk gone" }))
          )
        ))
        : Effect.andThen(Effect.orDie(sink.append(TRADES, tradeColumns(late))), real.plan(request))
  })
})).pipe(Layer.provide(ReplayLayer.layer))

const logged: Array<string> = []
const capture = Logger.make(({ cause, message }) =>
  void logged.push([...(Array.isArray(message) ? message : [message]).map(String), Cause.pretty(cause)].join(" ")))

/** The JSON lines the programs write (what a log shipper indexes by correlation_id). */
const records: Array<Record<string, unknown>> = []
const json = jsonLogger("serve", (line) => void records.push(JSON.parse(line) as Record<string, unknown>))

const dir = warehouseDir()
const app = Server.layer({ ...testOptions(), warehouse: dir }).pipe(
  Layer.provideMerge(Layer.mergeAll(racing, QueryLayer.layer(), tradesOnly)),
  Layer.provideMerge(lakehouse(dir)),
  Layer.provideMerge(Server.nodeServer({ port: 0, host: "127.0.0.1" })),
  Layer.provide(Logger.layer([capture, json]))
)

layer(app, { timeout: 120_000, excludeTestServices: true })("GET /v1/replay", (it) => {
  it.effect("reads the snapshots K2-Snapshot-Ids names, not what was committed after they were pinned", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const res = yield* get(`${base}/v1/replay?from=${iso(T0)}&to=${iso(T0 + 3 * DAY)}&format=sse`, auth(KEYS.full))
      const body = yield* Effect.promise(() => res.text())
      assert.strictEqual(res.status, 200, body)
      assert.match(res.headers.get("k2-snapshot-ids") ?? "", /^trades=\d+, quotes=none$/)
      const ids = [...body.matchAll(/^data: (.*)$/gm)].map((m) => JSON.parse(m[1]!)).filter((e) => e._tag !== undefined).map((e) => e.message_id as string)
      assert.isFalse(ids.some((id) => id.startsWith("late")), "rows committed after the pin")
      assert.strictEqual(ids.length, early.length)
      assert.include(body, "event: end")
    }))

  it.effect("an SSE client reconnecting with Last-Event-ID resumes right after its last event, at the snapshots it was read at", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const url = `${base}/v1/replay?from=${iso(T0)}&to=${iso(T0 + 3 * DAY)}&format=sse`
      const events = (body: string) =>
        body.split("\n\n").map((block) => Object.fromEntries(block.split("\n").map((l) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 2)])))
          .filter((e) => e["event"] === "trade")
          .map((e) => ({ id: e["id"] as string, messageId: JSON.parse(e["data"]!).message_id as string }))
      const first = events(yield* Effect.promise(() => fetch(url, { headers: auth(KEYS.full) }).then((r) => r.text())))
      assert.isAbove(first.length, 10)
      assert.strictEqual(new Set(first.map((e) => e.id)).size, first.length, "every event has an id of its own")
      // An event after others of its instant when there is one (the place within the instant counts).
      const cut = Math.max(first.findIndex((e, i) => i > 0 && e.id.split(".")[0] === first[i - 1]!.id.split(".")[0]), Math.floor(first.length / 2))
      // Every plan of this engine commits more trades first: the resumed replay must not read them.
      const res = yield* get(url, { ...auth(KEYS.full), "last-event-id": first[cut]!.id })
      const body = yield* Effect.promise(() => res.text())
      assert.strictEqual(res.status, 200, body)
      assert.deepStrictEqual(events(body), first.slice(cut + 1))
      assert.match(body, /id: end\nevent: end\n/)
      // After the end, EventSource reconnects with the end's id: 204 stops it.
      assert.strictEqual((yield* get(url, { ...auth(KEYS.full), "last-event-id": "end" })).status, 204)
      const bad = yield* get(url, { ...auth(KEYS.full), "last-event-id": "yesterday" })
      assert.strictEqual(bad.status, 400)
      assert.include(yield* Effect.promise(() => bad.text()), "Last-Event-ID")
    }))

  it.effect("a Last-Event-ID sent with another query (symbols, tables, range, snapshot) is refused 400 resume_mismatch, not answered from another place (ADR-97)", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const range = `from=${iso(T0)}&to=${iso(T0 + 3 * DAY)}`
      const url = `${base}/v1/replay?${range}&format=sse`
      const res = yield* get(url, auth(KEYS.full))
      const body = yield* Effect.promise(() => res.text())
      const snapshots = /^trades=(\d+)/.exec(res.headers.get("k2-snapshot-ids") ?? "")![1]!
      const ids = [...body.matchAll(/^id: (.*)\nevent: trade$/gm)].map((m) => m[1]!)
      assert.isAbove(ids.length, 10)
      const id = ids[5]!
      const symbol = JSON.parse(/^data: (.*)$/m.exec(body)![1]!).symbol as string
      // Another query: the same position there names other events (a skip or a repeat), so it is refused.
      for (
        const other of [
          `${base}/v1/replay?${range}&format=sse&symbols=${symbol}`,
          `${base}/v1/replay?${range}&format=sse&tables=trades`,
          `${base}/v1/replay?from=${iso(T0)}&to=${iso(T0 + 2 * DAY)}&format=sse`,
          `${base}/v1/replay?${range}&format=sse&snapshot_id=${snapshots}`
        ]
      ) {
        const refused = yield* get(other, { ...auth(KEYS.full), "last-event-id": id })
        const problem = JSON.parse(yield* Effect.promise(() => refused.text()))
        assert.strictEqual(refused.status, 400, other)
        assert.strictEqual(problem.code, "resume_mismatch", other)
        assert.include(problem.detail, "Last-Event-ID belongs to another replay", other)
      }
      // The same query, its parameters in another order, resumes; as does an id given before fingerprints (ADR-97).
      const same = yield* get(`${base}/v1/replay?format=sse&to=${iso(T0 + 3 * DAY)}&from=${iso(T0)}`, { ...auth(KEYS.full), "last-event-id": id })
      const sameIds = [...(yield* Effect.promise(() => same.text())).matchAll(/^id: (.*)\nevent: trade$/gm)].map((m) => m[1]!)
      assert.strictEqual(same.status, 200)
      assert.deepStrictEqual(sameIds, ids.slice(6))
      // NDJSON has no ids to resume after: it would start over and repeat every event the client has.
      const ndjson = yield* get(`${base}/v1/replay?${range}&format=ndjson`, { ...auth(KEYS.full), "last-event-id": id })
      assert.strictEqual(ndjson.status, 400)
      assert.include(JSON.parse(yield* Effect.promise(() => ndjson.text())).detail, "Last-Event-ID: resumes a server-sent events replay")
      const legacy = id.slice(0, id.lastIndexOf("."))
      const old = yield* get(url, { ...auth(KEYS.full), "last-event-id": legacy })
      const oldIds = [...(yield* Effect.promise(() => old.text())).matchAll(/^id: (.*)\nevent: trade$/gm)].map((m) => m[1]!)
      assert.strictEqual(old.status, 200)
      assert.deepStrictEqual(oldIds, ids.slice(6))
    }))

  it.effect("an SSE client reconnecting as EventSource does after an error event stops once its resumed replay fails again before any event", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const url = `${base}/v1/replay?symbols=BOOM&from=${iso(T0)}&to=${iso(T0 + 3 * DAY)}&format=sse`
      /** What EventSource keeps: the last `id:` it was sent. */
      const lastId = (body: string) => [...body.matchAll(/^id: (.*)$/gm)].at(-1)?.[1]
      const first = yield* Effect.promise(() => fetch(url, { headers: auth(KEYS.full) }).then((r) => r.text()))
      assert.match(first, /event: error\n/)
      const resumeFrom = lastId(first)
      assert.isDefined(resumeFrom)
      assert.notStrictEqual(resumeFrom, "end", "events came before the failure: a reconnect may resume after them")
      // The file is still gone: the resumed replay fails at the same place, before any new event.
      // Without an id on its error event, EventSource reconnected with the same id forever.
      const again = yield* Effect.promise(() => fetch(url, { headers: { ...auth(KEYS.full), "last-event-id": resumeFrom! } }).then((r) => r.text()))
      assert.notMatch(again, /event: trade/)
      assert.match(again, /id: end\nevent: error\ndata: \{"code":"replay_failed"/)
      assert.strictEqual(lastId(again), "end")
      assert.strictEqual((yield* get(url, { ...auth(KEYS.full), "last-event-id": "end" })).status, 204)
    }))

  it.effect("a replay failing after its headers ends with an error event, and the failure is logged under the correlation id", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      for (const format of ["sse", "ndjson"]) {
        logged.length = 0
        const res = yield* get(`${base}/v1/replay?symbols=BOOM&from=${iso(T0)}&to=${iso(T0 + 3 * DAY)}&format=${format}`, { ...auth(KEYS.full), "x-correlation-id": `boom-${format}` })
        const body = yield* Effect.promise(() => res.text())
        assert.strictEqual(res.status, 200)
        assert.include(body, `"correlation_id":"boom-${format}"`)
        assert.notInclude(body, "event: end")
        if (format === "sse") assert.match(body, /event: error\ndata: \{"code":"replay_failed"/)
        // In the correlation_id field, as every line of a request (the body streams after the
        // request's annotations are gone: it was only in the message's text).
        const line = records.find((r) => r.correlation_id === `boom-${format}` && String(r.message).startsWith("replay stream failed"))
        assert.isDefined(line, `nothing logged under the correlation id: ${JSON.stringify(records)}`)
        assert.include(String(line!.cause), "disk gone")
      }
    }))
})

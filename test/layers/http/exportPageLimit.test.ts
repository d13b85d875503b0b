/**
 * A CSV export reads its pages after the 200 is out. Each page is one query on a pooled DuckDB
 * connection, so each is held to the query time limit as the first page is: a page past it is
 * stopped, and the body ends with the export's failure (never a whole-looking CSV), logged with its cause.
 */
import { assert, layer } from "@effect/vitest"
import { Cause, Context, Effect, Layer, Logger, Queue } from "effect"
import * as Server from "../../../src/layers/http/server.ts"
import { jsonLogger } from "../../../src/layers/telemetry/logging.ts"
import { QueryEngine } from "../../../src/services/QueryEngine.ts"
import { auth, baseUrl, engines, KEYS, testOptions } from "../../integration/http-support.ts"
import { DAY, T0 } from "../query/data.ts"
import { fill, warehouseDir } from "../query/fixture.ts"

const iso = (us: number) => new Date(us / 1000).toISOString()

/** Trades whose first page is one row with a next page, and whose next page never ends. */
class Stuck extends Context.Service<Stuck, { readonly interrupted: Queue.Queue<void> }>()("test/StuckPage") {}

const stuckEngine = Layer.unwrap(Effect.gen(function*() {
  const interrupted = yield* Queue.unbounded<void>()
  const engine = Layer.effect(QueryEngine)(Effect.gen(function*() {
    const real = yield* QueryEngine
    return QueryEngine.of({
      ...real,
      trades: (request) =>
        request.cursor === undefined
          ? Effect.succeed({ rows: [{ message_id: "m-1", price: "1.50000000" }], scanned: [], rowsReturned: 1, elapsedMs: 0, nextCursor: "page-2" })
          : Effect.never.pipe(Effect.onInterrupt(() => Queue.offer(interrupted, undefined)))
    })
  }))
  return Layer.merge(engine, Layer.succeed(Stuck, { interrupted }))
}))

const logged: Array<string> = []
const capture = Logger.make(({ cause, message }) =>
  void logged.push([...(Array.isArray(message) ? message : [message]).map(String), Cause.pretty(cause)].join(" ")))

/** The JSON lines the programs write (what a log shipper indexes). */
const records: Array<Record<string, unknown>> = []
const json = jsonLogger("serve", (line) => void records.push(JSON.parse(line) as Record<string, unknown>))

const serving = Layer.unwrap(Effect.sync(() => {
  const dir = warehouseDir()
  return Server.layer({ ...testOptions({ queryTimeoutMs: 300 }), warehouse: dir }).pipe(
    Layer.provideMerge(stuckEngine),
    Layer.provideMerge(engines(dir, fill({ trades: 200, quotes: 200 }))),
    Layer.provideMerge(Server.nodeServer({ port: 0, host: "127.0.0.1" })),
    Layer.provide(Logger.layer([capture, json]))
  )
}))

/** The body as far as it came, and whether it ended in an error rather than its end. */
const readBody = (res: Response) =>
  Effect.promise(async () => {
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader()
    let text = ""
    try {
      for (let part = await reader.read(); !part.done; part = await reader.read()) text += part.value
      return { text, failed: false }
    } catch {
      return { text, failed: true }
    }
  })

layer(serving, { timeout: 60_000, excludeTestServices: true })("a CSV export whose later page runs past the query time limit", (it) => {
  it.effect("stops the page and ends the body with the export's failure", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const { interrupted } = yield* Stuck
      const res = yield* Effect.promise(() =>
        fetch(`${base}/v1/trades?from=${iso(T0)}&to=${iso(T0 + DAY)}&format=csv`, { headers: { "x-correlation-id": "slow-page", ...auth(KEYS.full) } })
      )
      assert.strictEqual(res.status, 200)
      const { text, failed } = yield* readBody(res)
      assert.isTrue(failed, `the body ended as if whole: ${text}`)
      assert.isTrue(text.startsWith("message_id,price\nm-1,1.50000000\n"), text)
      yield* Queue.take(interrupted)
      // The client sees only a cut body: the log says why.
      assert.isTrue(logged.some((l) => l.includes("export stream failed") && l.includes("QueryTimeout")), JSON.stringify(logged))
      // As every log line of a request: its correlation id in the correlation_id field (what an
      // operator searches the logs by), the cause in cause. It was only in the message's text.
      const line = records.find((r) => String(r.message).startsWith("export stream failed"))
      assert.isDefined(line, JSON.stringify(records))
      assert.strictEqual(line!.correlation_id, "slow-page", JSON.stringify(line))
      assert.include(String(line!.cause), "QueryTimeout", JSON.stringify(line))
    }), 30_000)
})

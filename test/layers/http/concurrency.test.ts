/**
 * The server under concurrent and abandoned requests, over real HTTP: more reads than pooled
 * DuckDB connections all answer; a client gone mid-stream (CSV export, Parquet, replay) gives
 * its connection back and leaves no temp file; a failed query returns its connection; reads
 * stopped by the query time limit answer 503 and give their connections back; and DuckDB's
 * statements, pooled and sandboxed together, leave a libuv thread for the file system.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, assert, layer } from "@effect/vitest"
import { Context, Effect, Fiber, Layer } from "effect"
import { DuckDb, query } from "../../../src/layers/duckdb/DuckDb.ts"
import type { ServerOptions } from "../../../src/layers/http/config.ts"
import * as Server from "../../../src/layers/http/server.ts"
import * as QueryLayer from "../../../src/layers/query/engine.ts"
import * as ReplayLayer from "../../../src/layers/replay/engine.ts"
import { auth, baseUrl, KEYS, testOptions } from "../../integration/http-support.ts"
import { DAY, T0 } from "../query/data.ts"
import { fill, lakehouse, warehouseDir } from "../query/fixture.ts"

const iso = (us: number) => new Date(us / 1000).toISOString()

/** Connections borrowed from the pool right now, and the most at once. */
class Borrowed extends Context.Service<Borrowed, { now: number; most: number; total: number }>()("test/Borrowed") {}

const counting = Layer.unwrap(Effect.sync(() => {
  const state = { now: 0, most: 0, total: 0 }
  const duckDb = Layer.effect(DuckDb)(Effect.gen(function*() {
    const real = yield* DuckDb
    return DuckDb.of({
      size: real.size,
      withConnection: (use) =>
        real.withConnection((c) =>
          Effect.acquireUseRelease(
            Effect.sync(() => {
              state.now++
              state.total++
              state.most = Math.max(state.most, state.now)
            }),
            () => use(c),
            () => Effect.sync(() => void state.now--)
          )
        )
    })
  }))
  return Layer.merge(duckDb, Layer.succeed(Borrowed, state))
}))

// The Parquet temp files of this file's servers only: a directory of its own as os.tmpdir().
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "k2-conc-test-"))
const savedTmp = process.env["TMPDIR"]
process.env["TMPDIR"] = tmp
/** The Parquet answers' temp directories left (the warehouses are under `tmp` too). */
const parquetDirs = () => fs.readdirSync(tmp).filter((name) => name.startsWith("k2-api-"))
afterAll(() => {
  if (savedTmp === undefined) delete process.env["TMPDIR"]
  else process.env["TMPDIR"] = savedTmp
  fs.rmSync(tmp, { recursive: true, force: true })
})

const servingWith = (overrides: Partial<ServerOptions> = {}) => Layer.unwrap(Effect.sync(() => {
  const dir = warehouseDir()
  return Server.layer({ ...testOptions(overrides), warehouse: dir }).pipe(
    Layer.provideMerge(
      Layer.mergeAll(fill({ trades: 25_000, quotes: 2_000 }), QueryLayer.layer(), ReplayLayer.layer).pipe(
        Layer.provideMerge(counting),
        Layer.provideMerge(lakehouse(dir))
      )
    ),
    Layer.provideMerge(Server.nodeServer({ port: 0, host: "127.0.0.1" }))
  )
}))
const serving = servingWith()

/** Waits (a safety net of ~10 s, not a limit asserted) until `cond` holds. */
const until = (cond: () => boolean) =>
  Effect.promise(async () => {
    for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 20))
  })

/** Reads the first chunk of the body, then leaves. */
const readSomeThenAbort = (url: string, init: RequestInit = {}) =>
  Effect.promise(async () => {
    const controller = new AbortController()
    const res = await fetch(url, { ...init, headers: { ...auth(KEYS.full), ...init.headers }, signal: controller.signal })
    const reader = res.body!.getReader()
    const first = await reader.read()
    controller.abort()
    await reader.cancel().catch(() => {})
    return { status: res.status, bytes: first.value?.length ?? 0 }
  })

const range = `from=${iso(T0)}&to=${iso(T0 + 3 * DAY)}`

layer(serving, { timeout: 180_000, excludeTestServices: true })("the server under concurrent and abandoned requests", (it) => {
  it.effect("more concurrent reads than connections: every one answers 200, and the pool is whole after", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const borrowed = yield* Borrowed
      const duckDb = yield* DuckDb
      const statuses = yield* Effect.forEach(
        Array.from({ length: 24 }, (_, i) => i),
        (i) => Effect.promise(() => fetch(`${base}/v1/trades?${range}&limit=${i + 1}`, { headers: auth(KEYS.full) }).then(async (r) => (await r.text(), r.status))),
        { concurrency: "unbounded" }
      )
      assert.deepStrictEqual(statuses, statuses.map(() => 200))
      yield* until(() => borrowed.now === 0)
      assert.strictEqual(borrowed.now, 0)
      assert.isAtMost(borrowed.most, duckDb.size)
    }))

  it.effect("a client gone mid CSV export gives its connection back", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const borrowed = yield* Borrowed
      for (let i = 0; i < 4; i++) {
        const r = yield* readSomeThenAbort(`${base}/v1/trades?${range}&format=csv`)
        assert.strictEqual(r.status, 200)
      }
      yield* until(() => borrowed.now === 0)
      assert.strictEqual(borrowed.now, 0)
      const res = yield* Effect.promise(() => fetch(`${base}/v1/trades?${range}&format=csv`, { headers: auth(KEYS.full) }))
      const text = yield* Effect.promise(() => res.text())
      assert.strictEqual(res.status, 200)
      assert.strictEqual(text.trim().split("\n").length, 25_001)
    }))

  it.effect("a client gone mid Parquet body leaves no temp file", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const borrowed = yield* Borrowed
      for (const route of [`/v1/trades?${range}&format=parquet`, `/v1/bars?${range}&format=parquet`]) {
        const r = yield* readSomeThenAbort(`${base}${route}`)
        assert.strictEqual(r.status, 200, route)
      }
      const sql = yield* readSomeThenAbort(`${base}/v1/sql`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ sql: "SELECT * FROM trades", format: "parquet" })
      })
      assert.strictEqual(sql.status, 200)
      yield* until(() => borrowed.now === 0 && parquetDirs().length === 0)
      assert.deepStrictEqual(parquetDirs(), [])
      assert.strictEqual(borrowed.now, 0)
    }))

  it.effect("a client gone mid replay (NDJSON, SSE) gives its connection back", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const borrowed = yield* Borrowed
      for (const format of ["ndjson", "sse"]) {
        const r = yield* readSomeThenAbort(`${base}/v1/replay?${range}&format=${format}`)
        assert.strictEqual(r.status, 200, format)
      }
      yield* until(() => borrowed.now === 0)
      assert.strictEqual(borrowed.now, 0)
    }))

  it.effect("failed and abandoned SQL return their permits: later statements all answer", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const post = (sql: string, signal?: AbortSignal, format = "json") =>
        fetch(`${base}/v1/sql`, {
          method: "POST",
          headers: { ...auth(KEYS.full), "content-type": "application/json" },
          body: JSON.stringify({ sql, format }),
          ...(signal === undefined ? {} : { signal })
        })
      const failed = yield* Effect.forEach([1, 2, 3], () => Effect.promise(() => post("SELECT nope FROM trades").then((r) => r.status)), { concurrency: "unbounded" })
      assert.deepStrictEqual(failed, [400, 400, 400])
      const controllers = [new AbortController(), new AbortController()]
      // Two slow statements, one of them a Parquet answer being written, abandoned while they run.
      const slow = controllers.map((c, i) => post("SELECT count(*) FROM range(100000000000) a", c.signal, i === 0 ? "json" : "parquet").catch(() => undefined))
      yield* Effect.promise(() => new Promise((r) => setTimeout(r, 300)))
      controllers.forEach((c) => c.abort())
      yield* Effect.promise(() => Promise.all(slow))
      // One after another: the abandoned runs count as this key's until their workers are gone (a key
      // may have three running or waiting, SANDBOX_RUNS_PER_CALLER), and each statement needs a permit back.
      const ok = yield* Effect.forEach([1, 2, 3, 4], () => Effect.promise(() => post("SELECT count(*) AS n FROM trades").then((r) => r.status)))
      assert.deepStrictEqual(ok, [200, 200, 200, 200])
      yield* until(() => parquetDirs().length === 0)
      assert.deepStrictEqual(parquetDirs(), [])
    }))
})

layer(servingWith({ queryTimeoutMs: 40 }), { timeout: 180_000, excludeTestServices: true })("reads past the query time limit", (it) => {
  it.effect("concurrent reads stopped by the limit answer 503 query_timeout or server_busy and give their connections back", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const borrowed = yield* Borrowed
      const duckDb = yield* DuckDb
      const answers = yield* Effect.forEach(
        Array.from({ length: 24 }, (_, i) => i),
        (i) =>
          Effect.promise(() =>
            fetch(`${base}/v1/${i % 2 === 0 ? `trades?limit=${i + 1}&` : "bars?"}${range}`, { headers: auth(KEYS.full) })
              .then(async (r) => ({ status: r.status, body: await r.text(), retryAfter: r.headers.get("retry-after") }))
          ),
        { concurrency: "unbounded" }
      )
      // Those that spent most of the limit waiting for a connection met a busy server (serverBusy.test.ts).
      for (const a of answers) {
        const timedOut = a.status === 503 && (a.body.includes("query_timeout") || (a.body.includes("server_busy") && a.retryAfter === "5"))
        assert.isTrue(a.status === 200 || timedOut, `${a.status} ${a.body}`)
      }
      yield* until(() => borrowed.now === 0)
      assert.strictEqual(borrowed.now, 0)
      // Every pooled connection is free and answers.
      const ones = yield* Effect.forEach(
        Array.from({ length: duckDb.size * 2 }),
        () => duckDb.withConnection((c) => Effect.promise(() => c.runAndReadAll("SELECT 1 AS one").then((r) => r.getRowObjects()[0]?.["one"]))),
        { concurrency: "unbounded" }
      )
      assert.deepStrictEqual(ones, ones.map(() => 1))
    }))
})

layer(servingWith({ sqlTimeoutMs: 1_000 }), { timeout: 180_000, excludeTestServices: true })("SQL past its slots", (it) => {
  it.effect("a statement waits for a slot no longer than a run may hold one: 503 sql_busy with Retry-After, and the line drains", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const post = (sql: string) =>
        fetch(`${base}/v1/sql`, { method: "POST", headers: { ...auth(KEYS.full), "content-type": "application/json" }, body: JSON.stringify({ sql }) })
          .then(async (r) => ({ status: r.status, code: (JSON.parse(await r.text()) as { code?: string }).code, retryAfter: r.headers.get("retry-after") }))
      // Two run (a second each, then query_timeout), two by two the others wait and run next; the
      // last ones would have to wait for four runs, longer than the 3 s (1 s + the kill's 2 s) they may wait.
      const answers = yield* Effect.promise(() => Promise.all(Array.from({ length: 9 }, () => post("SELECT count(*) FROM range(100000000000) a"))))
      assert.deepStrictEqual(answers.map((a) => a.status), Array.from({ length: 9 }, () => 503))
      assert.isAtLeast(answers.filter((a) => a.code === "query_timeout").length, 2, JSON.stringify(answers))
      const busy = answers.filter((a) => a.code === "sql_busy")
      assert.isAtLeast(busy.length, 1, JSON.stringify(answers))
      for (const a of busy) assert.strictEqual(a.retryAfter, "1")
      assert.strictEqual((yield* Effect.promise(() => post("SELECT count(*) AS n FROM trades"))).status, 200)
    }))
})

layer(serving, { timeout: 180_000, excludeTestServices: true })("DuckDB and the libuv thread pool", (it) => {
  it.effect("pooled statements and SQL statements running together leave a thread for the file system", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const duckDb = yield* DuckDb
      const slow = "SELECT count(*) FROM range(100000000000) a"
      const order: Array<string> = []
      // Every pooled connection busy, and two SQL statements (the most the sandbox runs at once).
      const pooled = yield* Effect.forEach(Array.from({ length: duckDb.size }), () =>
        Effect.forkChild(duckDb.withConnection((c) => query(c, "slow", slow)).pipe(Effect.exit, Effect.tap(() => Effect.sync(() => order.push("pooled"))))))
      const controller = new AbortController()
      const sql = [1, 2].map(() =>
        fetch(`${base}/v1/sql`, {
          method: "POST",
          headers: { ...auth(KEYS.full), "content-type": "application/json" },
          body: JSON.stringify({ sql: slow }),
          signal: controller.signal
        }).then((r) => r.text()).catch(() => "").finally(() => order.push("sql")))
      yield* Effect.promise(() => new Promise((r) => setTimeout(r, 500)))
      // Node's file reads run on the same libuv threads as DuckDB's calls.
      yield* Effect.promise(() => fs.promises.readFile(__filename))
      order.push("file read")
      controller.abort()
      yield* Effect.forEach(pooled, Fiber.interrupt)
      yield* Effect.promise(() => Promise.all(sql))
      assert.strictEqual(order[0], "file read", order.join(", "))
    }))
})

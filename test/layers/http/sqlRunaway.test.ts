/**
 * POST /v1/sql against statements DuckDB's own limits do not hold: values an expression makes
 * (outside its 512 MB memory limit) and expressions slow on every row (its interrupt waits for the
 * chunk's 2,048 rows). The sandbox's worker process is held to a data size and killed past the
 * time limit; the server, and the next statement, are unharmed.
 */
import { assert, layer } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { auth, baseUrl, KEYS, served, testOptions } from "../../integration/http-support.ts"

const sql = (text: string, format = "json") =>
  Effect.gen(function*() {
    const base = yield* baseUrl
    return yield* Effect.promise(async () => {
      const res = await fetch(`${base}/v1/sql`, {
        method: "POST",
        headers: { ...auth(KEYS.full), "content-type": "application/json" },
        body: JSON.stringify({ sql: text, format })
      })
      return { status: res.status, body: await res.text() }
    })
  })

const stillAnswers = Effect.gen(function*() {
  const next = yield* sql("SELECT 42 AS n")
  assert.deepStrictEqual([next.status, JSON.parse(next.body).data], [200, [{ n: 42 }]])
})

layer(served(testOptions({ sqlTimeoutMs: 1_000 }), undefined, { trades: 50, quotes: 50 }), { timeout: 120_000, excludeTestServices: true })("POST /v1/sql runaway statements", (it) => {
  it.effect("values beyond the sandbox's memory fail the statement (they grew the server by gigabytes, until the kernel killed it)", () =>
    Effect.gen(function*() {
      // 2,048 lists of 200,000 BIGINTs: 3.3 GB in one chunk, none of it under DuckDB's memory limit.
      const r = yield* sql("SELECT sum(len(range(0, 200000 + i % 2))) AS n FROM range(2048) t(i)")
      assert.strictEqual(r.status, 400, r.body)
      assert.strictEqual(JSON.parse(r.body).code, "sql_error")
      assert.isBelow(process.memoryUsage().rss, 2 * 1024 ** 3)
      yield* stillAnswers
    }))

  it.effect("an expression slow on every row ends at the time limit (it ran on for minutes, holding one of the two sandbox slots)", () =>
    Effect.gen(function*() {
      // About 2 s a row at one thread: DuckDB looks for an interrupt only once all 40 rows are done.
      const slow = "SELECT sum(levenshtein(repeat('a', 20000 + i::INT % 2), repeat('b', 20000))) AS n FROM range(40) t(i)"
      for (const format of ["json", "csv", "parquet"]) {
        const r = yield* sql(slow, format).pipe(Effect.timeoutOption(Duration.seconds(40)))
        assert.isTrue(r._tag === "Some", `${format}: the statement was not stopped near its time limit`)
        if (r._tag === "Some") {
          assert.strictEqual(r.value.status, 503, `${format}: ${r.value.body}`)
          assert.strictEqual(JSON.parse(r.value.body).code, "query_timeout")
        }
        yield* stillAnswers
      }
    }))

  it.effect("a client waiting behind two runs killed past the time limit gets the first slot freed, not sql_busy a moment before", () =>
    Effect.gen(function*() {
      // Idle workers for both runs, so each run's clock starts as its slot is taken.
      yield* Effect.all([sql("SELECT 1"), sql("SELECT 1")], { concurrency: 2 })
      const slow = "SELECT sum(levenshtein(repeat('a', 20000 + i::INT % 2), repeat('b', 20000))) AS n FROM range(40) t(i)"
      const runs = Effect.all([sql(slow), sql(slow)], { concurrency: 2 })
      // Both slots taken before it arrives; they free some 2 s past the 1 s limit (the kill), at ~3 s.
      // Arriving at 1 s, it may wait to ~4 s; waiting the time limit alone, it gave up at ~2 s. A
      // second either side: a loaded machine's delays do not decide it.
      const waiting = Effect.delay(sql("SELECT 42 AS n"), "1 second")
      const [held, next] = yield* Effect.all([runs, waiting], { concurrency: 2 })
      assert.deepStrictEqual(held.map((h) => JSON.parse(h.body).code), ["query_timeout", "query_timeout"])
      assert.deepStrictEqual([next.status, JSON.parse(next.body).data ?? JSON.parse(next.body).code], [200, [{ n: 42 }]])
    }))
})

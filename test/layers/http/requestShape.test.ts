/**
 * What a client asks is what it gets, or a 400 saying why: a misspelt body field is not ignored,
 * and a limit past its range is limit_out_of_range however many digits it has.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { auth, baseUrl, KEYS, served, testOptions } from "../../integration/http-support.ts"

const call = (url: string, init: RequestInit = {}) =>
  Effect.promise(async () => {
    const res = await fetch(url, init)
    return { status: res.status, body: await res.text() }
  })

const sql = (base: string, body: unknown) =>
  call(`${base}/v1/sql`, { method: "POST", headers: { ...auth(KEYS.full), "content-type": "application/json" }, body: JSON.stringify(body) })

const problemOf = (a: { readonly body: string }) => {
  const { code, detail } = JSON.parse(a.body) as { code: string; detail: string }
  return { code, detail }
}

layer(served(testOptions({ sqlMaxRows: 200_000 }), undefined, { trades: 20, quotes: 20 }), { timeout: 120_000, excludeTestServices: true })("request shape", (it) => {
  it.effect("POST /v1/sql: a body field it does not take is 400 naming it, not ignored (a misspelt snapshot_id read the latest state)", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const snapshots = yield* call(`${base}/v1/snapshots/trades`, { headers: auth(KEYS.full) })
      const first = (JSON.parse(snapshots.body) as { data: Array<{ snapshotId: string }> }).data[0]!.snapshotId
      const typo = yield* sql(base, { sql: "SELECT count(*) AS n FROM trades", snapshotId: first })
      assert.strictEqual(typo.status, 400, typo.body)
      assert.deepStrictEqual(problemOf(typo), {
        code: "bad_request",
        detail: `invalid payload: Expected no excess property;   at ["snapshotId"]`
      })
      const right = yield* sql(base, { sql: "SELECT count(*) AS n FROM trades", snapshot_id: first })
      assert.strictEqual(right.status, 200, right.body)
      assert.strictEqual(JSON.parse(right.body).meta.snapshot_ids.trades, first)
    }))

  it.effect("POST /v1/sql: a body field given twice is 400 naming it, not the last one run (a proxy checking the first would pass another statement)", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const raw = (body: string) =>
        call(`${base}/v1/sql`, { method: "POST", headers: { ...auth(KEYS.full), "content-type": "application/json" }, body })
      for (const [body, field] of [
        [`{"sql":"SELECT 1 AS a","sql":"SELECT 2 AS a"}`, "sql"],
        // The same name spelt with an escape is the same field once parsed.
        [`{"sql":"SELECT 1 AS a", "s\\u0071l" : "SELECT 2 AS a"}`, "sql"],
        [`{"sql":"SELECT 1 AS a","limit":1,"format":"csv","limit":5}`, "limit"]
      ] as const) {
        const a = yield* raw(body)
        assert.strictEqual(a.status, 400, `${body}: ${a.body}`)
        assert.deepStrictEqual(problemOf(a), {
          code: "bad_request",
          detail: `body: ${field} is given more than once: give each field of the JSON body once`
        }, body)
      }
      // Field names repeated only inside a string, or in another object, are no repetition.
      const fine = yield* raw(`{"sql":"SELECT '\\"sql\\":' AS a, {'sql': 1} AS b","limit":1}`)
      assert.strictEqual(fine.status, 200, fine.body)
    }))

  it.effect("POST /v1/sql: a limit up to K2_API_SQL_MAX_ROWS is taken, whatever it is set to", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const a = yield* sql(base, { sql: "SELECT * FROM range(150000)", limit: 150_000 })
      assert.strictEqual(a.status, 200, a.body.slice(0, 300))
      const answer = JSON.parse(a.body) as { data: Array<unknown>; truncated: boolean }
      assert.strictEqual(answer.data.length, 150_000)
      assert.isFalse(answer.truncated)
      assert.strictEqual((yield* sql(base, { sql: "SELECT 1", limit: 0 })).status, 400)
    }))

  it.effect("a page's limit past its range is limit_out_of_range however many digits it has", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const range = "from=2024-01-02&to=2024-01-03"
      for (const query of [
        `/v1/trades?${range}&limit=10000000`,
        `/v1/trades?${range}&limit=123456789012&format=parquet`,
        `/v1/quotes?${range}&limit=99999999`,
        `/v1/trades/with-quotes?${range}&limit=10000000`
      ]) {
        const a = yield* call(`${base}${query}`, { headers: auth(KEYS.full) })
        assert.strictEqual(a.status, 400, query)
        assert.strictEqual(problemOf(a).code, "limit_out_of_range", `${query}: ${a.body}`)
      }
    }))
})

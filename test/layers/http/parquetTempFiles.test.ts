/**
 * A Parquet answer is written to a temporary file and streamed from it. The file must go however
 * the response ends: a HEAD request (whose body is never read) left one behind per request.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { auth, baseUrl, KEYS, served, testOptions } from "../../integration/http-support.ts"
import { DAY, T0 } from "../query/data.ts"

const iso = (us: number) => new Date(us / 1000).toISOString()
const tempDirs = () => fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith("k2-api-"))

layer(served(testOptions(), undefined, { trades: 50, quotes: 50 }), { timeout: 120_000, excludeTestServices: true })("Parquet temp files", (it) => {
  it.effect("are deleted after a HEAD request, as after a GET", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const before = new Set(tempDirs())
      for (const method of ["GET", "HEAD"]) {
        for (const path of [`/v1/bars?from=${iso(T0)}&to=${iso(T0 + 3 * DAY)}&format=parquet`, `/v1/trades?from=${iso(T0)}&to=${iso(T0 + 3 * DAY)}&format=parquet`]) {
          const res = yield* Effect.promise(() => fetch(`${base}${path}`, { method, headers: auth(KEYS.full) }))
          assert.strictEqual(res.status, 200, `${method} ${path}`)
          const body = Buffer.from(yield* Effect.promise(() => res.arrayBuffer()))
          if (method === "GET") {
            // Whole: the file is still there while it is sent.
            assert.strictEqual(body.length, Number(res.headers.get("content-length")), path)
            assert.strictEqual(body.subarray(0, 4).toString(), "PAR1", path)
            assert.strictEqual(body.subarray(-4).toString(), "PAR1", path)
          }
        }
      }
      const sql = yield* Effect.promise(() =>
        fetch(`${base}/v1/sql`, {
          method: "POST",
          headers: { ...auth(KEYS.full), "content-type": "application/json" },
          body: JSON.stringify({ sql: "SELECT symbol, price FROM trades;", format: "parquet" })
        }))
      const sqlBody = Buffer.from(yield* Effect.promise(() => sql.arrayBuffer()))
      assert.strictEqual(sql.status, 200, sqlBody.toString())
      assert.strictEqual(sqlBody.length, Number(sql.headers.get("content-length")))
      assert.strictEqual(sqlBody.subarray(-4).toString(), "PAR1")
      // Deleted once the response is done, which the client may see first.
      let left: Array<string> = []
      for (let i = 0; i < 50; i++) {
        left = tempDirs().filter((d) => !before.has(d))
        if (left.length === 0) break
        yield* Effect.promise(() => new Promise((r) => setTimeout(r, 20)))
      }
      assert.deepStrictEqual(left, [])
    }))
})

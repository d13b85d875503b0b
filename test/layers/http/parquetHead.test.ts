/**
 * A Parquet answer is written to a temporary file and streamed from it. A HEAD request's body is
 * never read, so its file must go before the answer is sent, with the headers a GET has.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { auth, baseUrl, KEYS, served, testOptions } from "../../integration/http-support.ts"
import { DAY, T0 } from "../query/data.ts"

const iso = (us: number) => new Date(us / 1000).toISOString()

/** Headers that differ per response, not per answer. */
const VARYING = new Set(["date", "x-correlation-id", "ratelimit-remaining", "ratelimit-reset", "keep-alive", "connection"])
const headersOf = (res: Response) => Object.fromEntries([...res.headers].filter(([k]) => !VARYING.has(k)))

layer(served(testOptions(), undefined, { trades: 50, quotes: 50 }), { timeout: 120_000, excludeTestServices: true })("Parquet answers to HEAD", (it) => {
  it.effect("leave no temp file behind, and have the headers of the GET", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      // The temp files of this test only: its own directory as os.tmpdir().
      const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "k2-head-test-"))
      const saved = process.env["TMPDIR"]
      process.env["TMPDIR"] = tmp
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          if (saved === undefined) delete process.env["TMPDIR"]
          else process.env["TMPDIR"] = saved
          fs.rmSync(tmp, { recursive: true, force: true })
        })
      )
      assert.strictEqual(os.tmpdir(), tmp)
      const range = `from=${iso(T0)}&to=${iso(T0 + 3 * DAY)}&format=parquet`
      const days = `from_day=${iso(T0).slice(0, 10)}&to_day=${iso(T0 + 2 * DAY).slice(0, 10)}&format=parquet`
      for (const route of [`/v1/trades?${range}`, `/v1/bars?${range}`, `/v1/summary?${days}`]) {
        const head = yield* Effect.promise(() => fetch(`${base}${route}`, { method: "HEAD", headers: auth(KEYS.full) }))
        assert.strictEqual(head.status, 200, route)
        // Answered only once the file is gone: nothing to wait for.
        assert.deepStrictEqual(fs.readdirSync(tmp), [], route)
        const get = yield* Effect.promise(() => fetch(`${base}${route}`, { headers: auth(KEYS.full) }))
        const body = Buffer.from(yield* Effect.promise(() => get.arrayBuffer()))
        assert.strictEqual(get.status, 200, route)
        assert.deepStrictEqual(headersOf(head), headersOf(get), route)
        assert.strictEqual(body.length, Number(head.headers.get("content-length")), route)
        assert.strictEqual(body.subarray(0, 4).toString(), "PAR1", route)
        assert.strictEqual(body.subarray(-4).toString(), "PAR1", route)
        // A GET's file goes once the body is sent, which the client may see first.
        for (let i = 0; i < 100 && fs.readdirSync(tmp).length > 0; i++) yield* Effect.promise(() => new Promise((r) => setTimeout(r, 20)))
        assert.deepStrictEqual(fs.readdirSync(tmp), [], route)
      }
    }))
})

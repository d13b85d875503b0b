/**
 * A snapshot's summary names each sequence tracker checkpoint by its side file's location: an
 * absolute path of the server. `/v1/snapshots/{table}` says which file by its name, and tells a
 * reader with the read scope nothing of the server's directories (no answer does).
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { CHECKPOINT_PREFIX } from "../../../src/domain/ingest/marker.ts"
import { auth, baseUrl, get, KEYS, served, testOptions } from "../../integration/http-support.ts"
import { commitOnCurrent } from "../../support/snapshots.ts"

layer(served(testOptions(), undefined, { trades: 20, quotes: 20 }), { timeout: 120_000, excludeTestServices: true })(
  "GET /v1/snapshots/{table}",
  (it) => {
    it.effect("names a checkpoint's side file without its directories", () =>
      Effect.gen(function*() {
        const base = yield* baseUrl
        const key = `${CHECKPOINT_PREFIX}k2-ingest.market.equities.trades.asx:0`
        // Any table's summary is listed alike; the fixture has trades (ingest's are sequence_events').
        // The side file beside the parent's manifest list, in the table's metadata directory.
        const metadata = yield* commitOnCurrent("trades", (parent) => ({
          summary: { ...parent.summary, [key]: parent["manifest-list"].replace(/[^/]*$/, "k2-sequence-0b7c.json") }
        }))
        const res = yield* get(`${base}/v1/snapshots/trades`, auth(KEYS.full))
        const text = yield* Effect.promise(() => res.text())
        assert.strictEqual(res.status, 200, text)
        const rows = (JSON.parse(text) as { data: ReadonlyArray<{ summary: Record<string, string> }> }).data
        const row = rows.find((r) => r.summary[key] !== undefined)
        assert.isDefined(row, text)
        assert.strictEqual(row!.summary[key], "k2-sequence-0b7c.json")
        const location = metadata.location.replace(/^file:\/\//, "")
        assert.notInclude(text, location)
      }))

    it.effect("limit lists the newest snapshots, in commit order; out of 1..10000 it is refused", () =>
      Effect.gen(function*() {
        const base = yield* baseUrl
        const list = (query: string) =>
          Effect.gen(function*() {
            const res = yield* get(`${base}/v1/snapshots/trades${query}`, auth(KEYS.full))
            return { status: res.status, body: JSON.parse(yield* Effect.promise(() => res.text())) }
          })
        const all = ((yield* list("")).body.data as ReadonlyArray<{ snapshotId: string }>).map((s) => s.snapshotId)
        assert.isAbove(all.length, 2)
        for (const id of all) assert.match(id, /^\d+$/)
        const two = yield* list("?limit=2")
        assert.strictEqual(two.status, 200)
        assert.deepStrictEqual(two.body.data.map((s: { snapshotId: string }) => s.snapshotId), all.slice(-2))
        assert.strictEqual((yield* list(`?limit=${all.length + 5}`)).body.data.length, all.length)
        for (const bad of ["0", "10001", "x"]) assert.strictEqual((yield* list(`?limit=${bad}`)).status, 400, bad)
      }))
  }
)

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
  }
)

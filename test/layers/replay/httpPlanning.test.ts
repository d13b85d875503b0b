/**
 * `GET /v1/replay` plans before it answers: a read that cannot be planned (here the pinned
 * snapshot's manifest list is gone) is the same problem+json status as /v1/trades, not a 200
 * whose stream says `replay_failed`.
 */
import * as fs from "node:fs"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { identifierOf } from "../../../src/domain/tables.ts"
import { currentSnapshot } from "../../../src/domain/iceberg/metadata.ts"
import { localPath } from "../../../src/layers/iceberg/fileio.ts"
import { Catalog } from "../../../src/services/Catalog.ts"
import { auth, baseUrl, get, KEYS, served, testOptions } from "../../integration/http-support.ts"
import { DAY, T0 } from "../query/data.ts"

const iso = (us: number) => new Date(us / 1000).toISOString()

layer(served(testOptions(), undefined, { trades: 200, quotes: 200 }), { timeout: 120_000, excludeTestServices: true })(
  "GET /v1/replay, a plan that fails",
  (it) => {
    it.effect("answers the problem /v1/trades answers, before any 200", () =>
      Effect.gen(function*() {
        const base = yield* baseUrl
        const { metadata } = yield* (yield* Catalog).loadTable(identifierOf("trades"))
        fs.rmSync(localPath(currentSnapshot(metadata)!["manifest-list"]))
        const range = `from=${iso(T0)}&to=${iso(T0 + 3 * DAY)}`
        const trades = yield* get(`${base}/v1/trades?${range}`, auth(KEYS.full))
        const expected = (yield* Effect.promise(() => trades.json())) as { code: string }
        assert.strictEqual(trades.status, 500)
        assert.strictEqual(expected.code, "data_file_error")
        for (const format of ["ndjson", "sse"]) {
          const res = yield* get(`${base}/v1/replay?${range}&tables=trades&format=${format}`, { ...auth(KEYS.full), "x-correlation-id": `lost-${format}` })
          const body = yield* Effect.promise(() => res.text())
          assert.strictEqual(res.status, trades.status, body)
          assert.strictEqual(res.headers.get("content-type"), "application/problem+json")
          assert.deepInclude(JSON.parse(body), { code: expected.code, correlation_id: `lost-${format}` })
        }
      }))
  }
)

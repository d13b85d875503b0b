/**
 * A table another engine took where K2 does not follow is 501 `unsupported_table`, naming what K2
 * does not read: not a 500 "internal" or "a data file could not be read" that a retry might clear.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { auth, baseUrl, get, KEYS, served, testOptions } from "../../integration/http-support.ts"
import { commitOnCurrent } from "../../support/snapshots.ts"
import { DAY, T0 } from "../query/data.ts"

const iso = (us: number) => new Date(us / 1000).toISOString()

layer(served(testOptions(), undefined, { trades: 200, quotes: 200 }), { timeout: 120_000, excludeTestServices: true })(
  "a table K2 does not read",
  (it) => {
    it.effect("is 501 unsupported_table naming the feature", () =>
      Effect.gen(function*() {
        const base = yield* baseUrl
        // Another engine's snapshot whose manifests live on object storage K2 does not reach.
        yield* commitOnCurrent("trades", () => ({
          "manifest-list": "s3://bucket/trades/metadata/snap-foreign.avro",
          summary: { operation: "append" }
        }))
        const res = yield* get(`${base}/v1/trades?from=${iso(T0)}&to=${iso(T0 + DAY)}`, auth(KEYS.full))
        const body = (yield* Effect.promise(() => res.json())) as { code: string; detail: string }
        assert.strictEqual(res.status, 501)
        assert.strictEqual(body.code, "unsupported_table")
        assert.include(body.detail, "s3://bucket/trades")
        // The document declares it, so that a client generated from it expects the 501.
        const spec = yield* Effect.promise(() => fetch(`${base}/openapi.json`).then((r) => r.json() as Promise<any>))
        assert.property(spec.paths["/v1/trades"].get.responses, "501")
      }))
  }
)

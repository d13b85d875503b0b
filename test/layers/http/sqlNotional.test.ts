/**
 * POST /v1/sql: price × quantity over the tables is exact. DuckDB types the product of two
 * DECIMAL(18, 8) as DECIMAL(18, 16), which overflows past 922.33: the notional an analyst asks first
 * failed with sql_error. The SQL views show decimals as DECIMAL(38, 8); exports keep the table's types.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { auth, baseUrl, KEYS, served, testOptions } from "../../integration/http-support.ts"
import { DAY, T0 } from "../query/data.ts"

const iso = (us: number) => new Date(us / 1000).toISOString()

/** Exact decimal text of `scale` places as a bigint of that scale. */
const scaled = (text: string, scale: number) => {
  const [whole, fraction = ""] = text.split(".")
  return BigInt(whole! + fraction.padEnd(scale, "0").slice(0, scale))
}

layer(served(testOptions(), undefined, { trades: 200, quotes: 10 }), { timeout: 120_000, excludeTestServices: true })("POST /v1/sql notional", (it) => {
  it.effect("sum(price * quantity) answers the exact sum of the rows' products", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const rows = yield* Effect.promise(() =>
        fetch(`${base}/v1/trades?from=${iso(T0 - DAY)}&to=${iso(T0 + 30 * DAY)}&limit=10000&fields=price,quantity`, { headers: auth(KEYS.full) })
          .then((r) => r.json() as Promise<{ data: Array<{ price: string; quantity: string }> }>))
      const products = rows.data.map((r) => scaled(r.price, 8) * scaled(r.quantity, 8))
      assert.strictEqual(products.length, 200)
      // The case that failed: some product past DECIMAL(18, 16)'s 922.33.
      assert.isTrue(products.some((p) => p > 922n * 10n ** 16n), "a product past 922.33 in the fixture")
      const res = yield* Effect.promise(() =>
        fetch(`${base}/v1/sql`, {
          method: "POST",
          headers: { ...auth(KEYS.full), "content-type": "application/json" },
          body: JSON.stringify({ sql: "SELECT sum(price * quantity) AS notional FROM trades" })
        }))
      const body = (yield* Effect.promise(() => res.json())) as { data: Array<{ notional: string }>; detail?: string }
      assert.strictEqual(res.status, 200, body.detail)
      assert.strictEqual(scaled(body.data[0]!.notional, 16), products.reduce((a, b) => a + b, 0n))
    }))

  it.effect("a snapshot_id reads that snapshot's rows, not the current ones", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const listed = yield* Effect.promise(() =>
        fetch(`${base}/v1/snapshots/trades`, { headers: auth(KEYS.full) }).then((r) => r.json() as Promise<{ data: Array<{ snapshotId: string }> }>))
      assert.strictEqual(listed.data.length, 2)
      const count = (snapshotId?: string) =>
        Effect.promise(() =>
          fetch(`${base}/v1/sql`, {
            method: "POST",
            headers: { ...auth(KEYS.full), "content-type": "application/json" },
            body: JSON.stringify({ sql: "SELECT count(*) AS n FROM trades", ...(snapshotId === undefined ? {} : { snapshot_id: snapshotId }) })
          }).then((r) => r.json() as Promise<{ data: Array<{ n: unknown }> }>)).pipe(Effect.map((b) => String(b.data[0]!.n)))
      assert.strictEqual(yield* count(), "200")
      assert.strictEqual(yield* count(listed.data[0]!.snapshotId), "100")
    }))
})

/**
 * A bar's notional (sum of price x quantity) is exact in DECIMAL(38, 16): past 10^22 it cannot be
 * held. Prices and sizes that large are absurd but accepted by ingest (each fits DECIMAL(18, 8)),
 * so such data gets a clear refusal naming the cause, not a 500.
 */
import { assert, layer } from "@effect/vitest"
import { BigDecimal, Effect, Layer } from "effect"
import { tradeColumns } from "../../../src/domain/rows.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { genTrades } from "../query/data.ts"
import { TRADES } from "../query/fixture.ts"
import { auth, baseUrl, get, KEYS, servedOver, testOptions } from "../../integration/http-support.ts"

const LARGEST = BigDecimal.make(999_999_999_999_999_999n, 8) // 9,999,999,999.99999999
const huge = genTrades(200, { seed: 5 }).map((t, i) => ({
  ...t,
  symbol: "HUGE",
  exchange: "ASX",
  price: LARGEST,
  quantity: LARGEST,
  exchange_timestamp: Date.UTC(2024, 0, 2, 10) * 1000 + i,
  message_id: `huge-${i}`
}))

const seeded = Layer.effectDiscard(Effect.gen(function*() {
  yield* (yield* IcebergSink).append(TRADES, tradeColumns(huge))
}))

layer(servedOver(testOptions(), seeded, { trades: 20, quotes: 20 }), { timeout: 120_000, excludeTestServices: true })("notional overflow", (it) => {
  it.effect("bars and daily summaries whose notional passes DECIMAL(38, 16) are a 400 value_overflow naming the notional, not a 500", () =>
    Effect.gen(function*() {
      for (const route of ["bars?interval=1h&from=2024-01-02&to=2024-01-03", "summary?from_day=2024-01-02&to_day=2024-01-02"]) {
        const res = yield* get(`${yield* baseUrl}/v1/${route}&symbols=HUGE`, auth(KEYS.reader))
        const body = JSON.parse(yield* Effect.promise(() => res.text()))
        assert.strictEqual(res.status, 400, JSON.stringify(body))
        assert.strictEqual(body.code, "value_overflow")
        assert.match(body.detail, /^the notional \(sum of price x quantity\) of a (bar|day) passes the 38 digits an exact answer holds: /)
      }
    }))
})

/**
 * Instants run from 1900 to 2199: ingest takes 2199-12-31T23:59:59.999999Z. A range's exclusive
 * `to` may therefore be 2200-01-01 itself, or that last microsecond is outside every [from, to).
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { tradeColumns } from "../../../src/domain/rows.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { genTrades } from "../query/data.ts"
import { TRADES } from "../query/fixture.ts"
import { auth, baseUrl, get, KEYS, servedOver, testOptions } from "../../integration/http-support.ts"

const END = Date.UTC(2200, 0, 1) * 1000
const last = { ...genTrades(1, { seed: 3 })[0]!, exchange_timestamp: END - 1, message_id: "the-last-microsecond" }

const seeded = Layer.effectDiscard(Effect.gen(function*() {
  yield* (yield* IcebergSink).append(TRADES, tradeColumns([last]))
}))

layer(servedOver(testOptions(), seeded, { trades: 20, quotes: 20 }), { timeout: 120_000, excludeTestServices: true })("range end", (it) => {
  const call = (query: string) =>
    Effect.gen(function*() {
      const res = yield* get(`${yield* baseUrl}/v1/trades?${query}`, auth(KEYS.reader))
      return { status: res.status, body: JSON.parse(yield* Effect.promise(() => res.text())) }
    })

  it.effect("to=2200-01-01 reads the last microsecond K2 stores; past it, and as a from, it is refused", () =>
    Effect.gen(function*() {
      for (const to of ["2200-01-01", "2200-01-01T00:00:00Z", "2199-12-31T23:59:59.9999999Z", String(END)]) {
        const { status, body } = yield* call(`from=2199-12-31&to=${encodeURIComponent(to)}&fields=message_id,exchange_timestamp`)
        assert.strictEqual(status, 200, `${to}: ${JSON.stringify(body)}`)
        assert.deepStrictEqual(body.data, [{ message_id: "the-last-microsecond", exchange_timestamp: "2199-12-31T23:59:59.999999Z" }], to)
      }
      assert.strictEqual((yield* call("from=2199-12-31&to=2200-01-01T00:00:00.000001Z")).status, 400)
      assert.strictEqual((yield* call("from=2200-01-01&to=2200-01-01")).status, 400)
    }))
})

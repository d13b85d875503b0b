/**
 * A read of a table not created yet (serve started before ingest, docs/api.md) is the client's
 * 404 `table_not_found`, as a snapshot not kept is its 404: neither is the server's trouble. It was
 * logged as a warning each time, so clients polling a fresh server filled the log with them.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger } from "effect"
import { guard } from "../../../src/layers/http/problems.ts"
import { jsonLogger } from "../../../src/layers/telemetry/logging.ts"
import { CatalogError, NoSuchTable } from "../../../src/services/Catalog.ts"
import { SnapshotNotFound } from "../../../src/services/TableScanner.ts"

const logged = (failure: unknown) =>
  Effect.gen(function*() {
    const records: Array<Record<string, unknown>> = []
    const logger = jsonLogger("serve", (line) => void records.push(JSON.parse(line) as Record<string, unknown>))
    const response = yield* guard(Effect.fail(failure)).pipe(Effect.provide(Logger.layer([logger])))
    return { status: response.status, records }
  })

describe("the failures a client is answered, not logged", () => {
  it.effect("a table not created yet is 404 table_not_found without a warning, as a snapshot not kept is", () =>
    Effect.gen(function*() {
      const missing = yield* logged(new CatalogError({ reason: new NoSuchTable({ table: "market_data.trades" }) }))
      assert.strictEqual(missing.status, 404)
      assert.deepStrictEqual(missing.records, [])
      const expired = yield* logged(new SnapshotNotFound({ table: "market_data.trades", detail: "id 1" }))
      assert.strictEqual(expired.status, 404)
      assert.deepStrictEqual(expired.records, [])
    }))
})

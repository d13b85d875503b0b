/** Which catalog the flags and options name. */
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import { FetchHttpClient } from "effect/http"
import { tables } from "../../../src/domain/tables.ts"
import * as FileIOs from "../../../src/layers/iceberg/fileio.ts"
import { catalogLayer } from "../../../src/layers/lakehouse.ts"
import { missingSqliteCatalog } from "../../../src/programs/cli/lakehouse.ts"
import { Catalog } from "../../../src/services/Catalog.ts"

describe("catalog selection", () => {
  it("postgres:// and postgresql:// URLs name PostgreSQL, not a SQLite file of that name", () => {
    const missing = (catalog: string) => missingSqliteCatalog({ warehouse: "/nowhere", catalog: Option.some(catalog), catalogName: "k2" })
    assert.isUndefined(missing("postgres://k2@db:5432/k2"))
    assert.isUndefined(missing("postgresql://k2@db:5432/k2"))
    assert.isUndefined(missing("http://catalog.test:8181"))
    assert.strictEqual(missing("/nowhere/catalog.db"), "/nowhere/catalog.db")
  })

  it.effect("a REST catalog creates new tables under the local warehouse, where K2 writes their files", () =>
    Effect.gen(function*() {
      const asked: Array<unknown> = []
      const fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
        const url = new URL(String(input instanceof Request ? input.url : input))
        if (url.pathname === "/v1/config") return Response.json({ defaults: {}, overrides: {} })
        if (init?.method === "POST") {
          asked.push(JSON.parse(new TextDecoder().decode(init.body as Uint8Array)).location)
          return Response.json({ error: { message: "scripted", type: "ScriptedException", code: 503 } }, { status: 503 })
        }
        return Response.json({ namespace: ["market_data"], properties: {} })
      }
      const warehouse = "/srv/k2/warehouse"
      yield* Effect.exit(Effect.gen(function*() {
        return yield* (yield* Catalog).createTable({ namespace: "market_data", name: "trades" }, tables.trades)
      }).pipe(
        Effect.provide(catalogLayer({ warehouse, catalog: { _tag: "rest", uri: "http://catalog.test" } }).pipe(Layer.provide(FileIOs.layerMemory))),
        Effect.provideService(FetchHttpClient.Fetch, fetch as typeof globalThis.fetch)
      ))
      assert.deepStrictEqual(asked, [`file://${path.resolve(warehouse)}/market_data/trades`])
    }))
})

/**
 * A catalog that does not answer (a database restarting, a REST server behind a broken proxy) is
 * an outage a client waits out: 503 `catalog_unavailable` says when to try again, as the server's
 * other passing 503s do.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { guard } from "../../../src/layers/http/problems.ts"
import { catalogError, CatalogUnavailable } from "../../../src/services/Catalog.ts"

describe("the catalog unavailable", () => {
  it.effect("is answered 503 catalog_unavailable with Retry-After, naming no detail of the catalog", () =>
    Effect.gen(function*() {
      const response = yield* guard(catalogError(new CatalogUnavailable({ detail: "connect ECONNREFUSED 10.0.0.7:5432" })))
      assert.strictEqual(response.status, 503)
      assert.strictEqual(response.headers["retry-after"], "5")
      const body = response.body as { readonly body?: unknown }
      const text = typeof body.body === "string" ? body.body : new TextDecoder().decode(body.body as Uint8Array)
      const problem = JSON.parse(text) as { code: string; detail: string }
      assert.strictEqual(problem.code, "catalog_unavailable")
      assert.notInclude(problem.detail, "10.0.0.7")
    }))
})

/** The REST catalog client against a scripted server: how its answers become reasons. */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer } from "effect"
import { HttpClient, HttpClientResponse } from "effect/http"
import * as Rest from "../../../src/layers/catalog/rest.ts"
import { Catalog, type CatalogError } from "../../../src/services/Catalog.ts"

/** A server that knows /v1/config and answers every other request with `status` and an Iceberg error body. */
const scripted = (status: number, error = { message: "scripted", type: "ScriptedException" }) =>
  Layer.succeed(HttpClient.HttpClient)(HttpClient.make((request, url) =>
    Effect.succeed(HttpClientResponse.fromWeb(
      request,
      url.pathname === "/v1/config"
        ? Response.json({ defaults: {}, overrides: {} })
        : Response.json({ error: { ...error, code: status } }, { status })
    ))
  ))

const commitReason = (status: number, error?: { message: string; type: string }) =>
  Effect.gen(function*() {
    const catalog = yield* Catalog
    const exit = yield* Effect.exit(catalog.commitTable({ namespace: "market_data", name: "trades" }, [], []))
    assert.isTrue(Exit.isFailure(exit))
    const failure = Exit.isFailure(exit) ? exit.cause.reasons.find((r) => r._tag === "Fail") : undefined
    return (failure as { error: CatalogError } | undefined)?.error.reason._tag
  }).pipe(Effect.provide(Layer.effect(Catalog)(Rest.make({ uri: "http://catalog.test" })).pipe(Layer.provide(scripted(status, error)))))

describe("REST catalog client", () => {
  it.effect("a commit the server refuses (400, 422) is rejected for good; one it fails on (5xx) may have landed", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* commitReason(400), "CatalogRejected")
      assert.strictEqual(yield* commitReason(422), "CatalogRejected")
      assert.strictEqual(yield* commitReason(409), "CommitConflict")
      assert.strictEqual(yield* commitReason(503), "CommitStateUnknown")
      // Accepted, with an answer that is not the table: it landed, but what it made is unknown.
      assert.strictEqual(yield* commitReason(200), "CommitStateUnknown")
      // Credentials may be renewed: waited out, not given up on.
      assert.strictEqual(yield* commitReason(403), "CatalogUnavailable")
    }))

  it.effect("a snapshot numbered at or below the table's last (built on a stale base) is a conflict, whichever status says so", () =>
    Effect.gen(function*() {
      // Iceberg 1.10's server answers it with 400; apache/iceberg#15126 made it 409 (CommitFailedException).
      const stale = { type: "ValidationException", message: "Cannot add snapshot with sequence number 2 older than last sequence number 2" }
      assert.strictEqual(yield* commitReason(400, stale), "CommitConflict")
      assert.strictEqual(yield* commitReason(400, { type: "ValidationException", message: "Cannot set main to unknown snapshot: 7" }), "CatalogRejected")
    }))
})

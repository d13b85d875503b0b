/** The REST catalog client over fetch, when the server answers with a redirect. */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { FetchHttpClient } from "effect/http"
import { newTableMetadata } from "../../../src/domain/iceberg/metadata.ts"
import { encodeTableMetadata } from "../../../src/domain/iceberg/metadataFile.ts"
import { tables } from "../../../src/domain/tables.ts"
import * as Rest from "../../../src/layers/catalog/rest.ts"
import { Catalog } from "../../../src/services/Catalog.ts"

const metadata = newTableMetadata({
  uuid: "7f1c3a0e-4a3b-4bd4-9d55-0a8f0c1d2e3f",
  location: "file:///warehouse/market_data/trades",
  schema: tables.trades.schema,
  spec: tables.trades.spec,
  sortOrder: tables.trades.sortOrder,
  nowMs: 0
})
const loadResult = `{"metadata-location":"file:///warehouse/market_data/trades/metadata/00000-a.metadata.json","metadata":${new TextDecoder().decode(encodeTableMetadata(metadata))}}`

/**
 * A server behind a proxy that sends plain http to https with 301, seen through a fetch that
 * behaves as Node's: unless told `redirect: "manual"`, it follows, and a POST followed on a 301
 * goes on as a GET without its body (the Fetch standard).
 */
const behindRedirect = (seen: Array<string>, status = 301) => {
  const server = (url: URL, method: string, body: unknown): Response => {
    seen.push(`${method} ${url.href}${body !== undefined && body !== null ? " with a body" : ""}`)
    if (url.protocol === "http:") return new Response(null, { status, headers: { location: `https://${url.host}${url.pathname}${url.search}` } })
    if (url.pathname === "/v1/config") return Response.json({ defaults: {}, overrides: {} })
    if (method === "GET" && url.pathname === "/v1/namespaces/market_data/tables/trades") {
      return new Response(loadResult, { headers: { "content-type": "application/json" } })
    }
    return Response.json({ error: { message: "scripted", type: "ScriptedException", code: 500 } }, { status: 500 })
  }
  const fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    let url = new URL(String(input instanceof Request ? input.url : input))
    let method = init?.method ?? "GET"
    let body = init?.body
    for (let hops = 0; hops < 20; hops++) {
      const response = server(url, method, body)
      if (response.status < 300 || response.status >= 400 || init?.redirect === "manual") return response
      if (init?.redirect === "error") throw new TypeError("fetch failed: redirect")
      if ((response.status === 301 || response.status === 302) && method === "POST") {
        method = "GET"
        body = undefined
      }
      url = new URL(response.headers.get("location")!, url)
    }
    throw new TypeError("fetch failed: redirect count exceeded")
  }
  return fetch as typeof globalThis.fetch
}

/** How a commit through `fetch` fails (the REST layer as `npm run ingest` builds it, over that fetch). */
const commitFailure = (fetch: typeof globalThis.fetch) =>
  Effect.gen(function*() {
    return yield* Effect.flip((yield* Catalog).commitTable({ namespace: "market_data", name: "trades" }, [], []))
  }).pipe(
    Effect.provide(Rest.layer({ uri: "http://catalog.test" })),
    Effect.provideService(FetchHttpClient.Fetch, fetch)
  )

describe("REST catalog client: redirects", () => {
  it.effect("a commit redirected with 301 is not taken for accepted (fetch would resend it as a GET, which answers the table)", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const failure = yield* commitFailure(behindRedirect(seen))
      // It did not land: refused for good, naming where the server points.
      assert.strictEqual(failure.reason._tag, "CatalogRejected")
      assert.include(failure.message, "https://catalog.test/v1/namespaces/market_data/tables/trades")
      assert.deepStrictEqual(seen, [
        "GET http://catalog.test/v1/config",
        "GET https://catalog.test/v1/config",
        "POST http://catalog.test/v1/namespaces/market_data/tables/trades with a body"
      ])
    }))

  it.effect("a commit redirected with 307 goes on as the same POST, with its body", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const failure = yield* commitFailure(behindRedirect(seen, 307))
      // The scripted server fails it with 500 where it was sent on to.
      assert.strictEqual(failure.reason._tag, "CommitStateUnknown")
      assert.include(seen, "POST https://catalog.test/v1/namespaces/market_data/tables/trades with a body")
    }))

  it.effect("a commit answered with 303 See Other may have been carried out: its outcome is unknown", () =>
    Effect.gen(function*() {
      const failure = yield* commitFailure(behindRedirect([], 303))
      assert.strictEqual(failure.reason._tag, "CommitStateUnknown")
    }))

  it.effect("a read redirected with 301 follows it", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const loaded = yield* Effect.gen(function*() {
        return yield* (yield* Catalog).loadTable({ namespace: "market_data", name: "trades" })
      }).pipe(
        Effect.provide(Rest.layer({ uri: "http://catalog.test" })),
        Effect.provideService(FetchHttpClient.Fetch, behindRedirect(seen))
      )
      assert.strictEqual(loaded.metadata["table-uuid"], metadata["table-uuid"])
    }))
})

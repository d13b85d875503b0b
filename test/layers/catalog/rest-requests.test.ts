/**
 * The REST catalog client against a scripted server: what it sends (paths, parameters, bodies,
 * credentials, redirects followed) and how statuses become reasons, operation by operation.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { HttpClient, HttpClientError, HttpClientResponse } from "effect/http"
import { tables } from "../../../src/domain/tables.ts"
import * as Rest from "../../../src/layers/catalog/rest.ts"
import type { RestCatalogOptions } from "../../../src/layers/catalog/restOptions.ts"
import { Catalog, type CatalogError } from "../../../src/services/Catalog.ts"

interface Seen {
  readonly method: string
  readonly url: URL
  readonly bearer: string | undefined
  readonly body: string | undefined
}

/** A server answering each request by `answer`; `undefined` breaks the connection instead. */
const server = (answer: (request: Seen) => Response | undefined, seen: Array<Seen> = []) =>
  Layer.succeed(HttpClient.HttpClient)(HttpClient.make((request, url) =>
    Effect.suspend(() => {
      const r: Seen = {
        method: request.method,
        url,
        bearer: request.headers["authorization"]?.replace(/^Bearer /, ""),
        body: (request.body as { text?: string }).text
      }
      seen.push(r)
      const response = answer(r)
      return response === undefined
        ? Effect.fail(new HttpClientError.HttpClientError({ reason: new HttpClientError.TransportError({ request, description: "socket hang up" }) }))
        : Effect.succeed(HttpClientResponse.fromWeb(request, response))
    })
  ))

const config = (fields: Record<string, unknown> = {}) => Response.json({ defaults: {}, overrides: {}, ...fields })
const failing = (status: number) => Response.json({ error: { message: "scripted", type: "ScriptedException", code: status } }, { status })

const withRest = (layer: Layer.Layer<HttpClient.HttpClient>, options: Partial<RestCatalogOptions> = {}) =>
  Effect.provide(Layer.effect(Catalog)(Rest.make({ uri: "http://catalog.test", ...options })).pipe(Layer.provide(layer)))

const reasonOf = <A>(effect: Effect.Effect<A, CatalogError, Catalog>, layer: Layer.Layer<HttpClient.HttpClient>, options?: Partial<RestCatalogOptions>) =>
  Effect.map(Effect.flip(effect.pipe(withRest(layer, options))), (e) => e.reason._tag)

const trades = { namespace: "market_data", name: "trades" }
const catalog = Effect.gen(function*() {
  return yield* Catalog
})

describe("REST catalog client: redirects", () => {
  it.effect("a commit redirected with 308 goes on as the same POST, with its body (as 307)", () =>
    Effect.gen(function*() {
      const seen: Array<Seen> = []
      const layer = server((r) =>
        r.url.pathname === "/v1/config"
          ? config()
          : r.url.host === "catalog.test"
          ? new Response(null, { status: 308, headers: { location: `http://moved.test${r.url.pathname}` } })
          : failing(503), seen)
      assert.strictEqual(yield* reasonOf(Effect.flatMap(catalog, (c) => c.commitTable(trades, [], [])), layer), "CommitStateUnknown")
      const resent = seen.find((r) => r.url.host === "moved.test")
      assert.strictEqual(resent?.method, "POST")
      assert.include(resent?.body ?? "", "\"requirements\"")
    }))

  it.effect("an existence check sent as HEAD and redirected with 301 follows it", () =>
    Effect.gen(function*() {
      const layer = server((r) =>
        r.url.pathname === "/v1/config"
          ? config({ endpoints: ["HEAD /v1/{prefix}/namespaces/{namespace}/tables/{table}"] })
          : r.url.pathname.startsWith("/moved/")
          ? new Response(null, { status: r.method === "HEAD" ? 204 : 405 })
          : new Response(null, { status: 301, headers: { location: `/moved${r.url.pathname}` } }))
      assert.isTrue(yield* Effect.flatMap(catalog, (c) => c.tableExists(trades)).pipe(withRest(layer)))
    }))

  it.effect("five redirects in a row are followed; a sixth is an error, not followed", () =>
    Effect.gen(function*() {
      /** A chain of `hops` redirects ending at a 404 (no such table). */
      const chain = (hops: number) =>
        server((r) => {
          if (r.url.pathname === "/v1/config") return config()
          const at = r.url.pathname.startsWith("/hop/") ? Number(r.url.pathname.slice(5)) : 0
          return at < hops ? new Response(null, { status: 302, headers: { location: `/hop/${at + 1}` } }) : failing(404)
        })
      assert.isFalse(yield* Effect.flatMap(catalog, (c) => c.tableExists(trades)).pipe(withRest(chain(5))))
      const failure = yield* Effect.flip(Effect.flatMap(catalog, (c) => c.tableExists(trades)).pipe(withRest(chain(6))))
      assert.strictEqual(failure.reason._tag, "CatalogUnavailable")
      assert.include(failure.message, "more than 5 redirects")
    }))

  it.effect("the bearer token goes on to the same host only, never to another one a redirect names", () =>
    Effect.gen(function*() {
      const seen: Array<Seen> = []
      const layer = server((r) =>
        r.url.pathname === "/v1/config"
          ? config()
          : r.url.pathname.startsWith("/elsewhere/")
          ? failing(404)
          : new Response(null, {
            status: 307,
            headers: { location: r.url.host === "catalog.test" ? `http://other.test/elsewhere${r.url.pathname}` : "/" }
          }), seen)
      yield* Effect.flatMap(catalog, (c) => c.tableExists(trades)).pipe(withRest(layer, { token: "secret-token" }))
      assert.deepStrictEqual(seen.map((r) => [r.url.host, r.bearer]), [
        ["catalog.test", "secret-token"],
        ["catalog.test", "secret-token"],
        ["other.test", undefined]
      ])
    }))

  it.effect("nor down from https to http on the same host, where anyone on the way would read it", () =>
    Effect.gen(function*() {
      const seen: Array<Seen> = []
      const layer = server((r) =>
        r.url.pathname === "/v1/config"
          ? config()
          : r.url.protocol === "https:"
          ? new Response(null, { status: 307, headers: { location: `http://catalog.test${r.url.pathname}` } })
          : new Response(null, { status: 204 }), seen)
      yield* Effect.flatMap(catalog, (c) => c.tableExists(trades)).pipe(withRest(layer, { uri: "https://catalog.test", token: "secret-token" }))
      assert.deepStrictEqual(seen.map((r) => [r.url.protocol, r.bearer]), [
        ["https:", "secret-token"],
        ["https:", "secret-token"],
        ["http:", undefined]
      ])
    }))
})

describe("REST catalog client: OAuth2 client credentials", () => {
  it.effect("the token request carries the client id, the secret and the scope (default `catalog`)", () =>
    Effect.gen(function*() {
      const forms: Array<URLSearchParams> = []
      const layer = server((r) => {
        if (r.url.pathname === "/v1/oauth/tokens") {
          forms.push(new URLSearchParams(r.body))
          return Response.json({ access_token: "t", token_type: "bearer" })
        }
        return config()
      })
      yield* catalog.pipe(withRest(layer, { credential: "k2:s3cr:et" }))
      yield* catalog.pipe(withRest(layer, { credential: "only-a-secret", scope: "PRINCIPAL_ROLE:ALL" }))
      assert.deepStrictEqual(forms.map((f) => Object.fromEntries(f)), [
        { grant_type: "client_credentials", client_id: "k2", client_secret: "s3cr:et", scope: "catalog" },
        { grant_type: "client_credentials", client_secret: "only-a-secret", scope: "PRINCIPAL_ROLE:ALL" }
      ])
    }))

  it.effect("the token request's secret goes only where a bearer token would: a redirect down to http or to another host is refused, not followed", () =>
    Effect.gen(function*() {
      const seen: Array<Seen> = []
      /** A token endpoint at https://catalog.test that sends its requests on (307, 308) to `location`; one at `location` answers. */
      const redirecting = (status: number, location: string) =>
        server((r) =>
          r.url.pathname === "/v1/config"
            ? config()
            : r.url.href === "https://catalog.test/v1/oauth/tokens"
            ? new Response(null, { status, headers: { location } })
            : Response.json({ access_token: "t", token_type: "bearer" }), seen)
      for (
        const [status, location] of [
          [307, "http://catalog.test/v1/oauth/tokens"],
          [308, "http://catalog.test:8443/v1/oauth/tokens"],
          [307, "https://other.test/v1/oauth/tokens"]
        ] as const
      ) {
        seen.length = 0
        const failure = yield* Effect.flip(catalog.pipe(withRest(redirecting(status, location), { uri: "https://catalog.test", credential: "k2:s3cret" })))
        assert.strictEqual(failure.reason._tag, "CatalogRejected", location)
        assert.include(failure.message, location)
        assert.include(failure.message, "client secret")
        assert.notInclude(failure.message, "s3cret")
        assert.deepStrictEqual(seen.map((r) => r.url.href), ["https://catalog.test/v1/oauth/tokens"], location)
      }
      // To another port of the same host, still over https, it goes on as the bearer token would.
      seen.length = 0
      yield* catalog.pipe(withRest(redirecting(307, "https://catalog.test:8443/v1/oauth/tokens"), { uri: "https://catalog.test", credential: "k2:s3cret" }))
      assert.deepStrictEqual(seen.slice(0, 2).map((r) => [r.url.href, new URLSearchParams(r.body).get("client_secret")]), [
        ["https://catalog.test/v1/oauth/tokens", "s3cret"],
        ["https://catalog.test:8443/v1/oauth/tokens", "s3cret"]
      ])
    }))
})

describe("REST catalog client: broken connections", () => {
  it.effect("a token request or a change whose connection breaks is sent once, also past a redirect; a read once more, where it was sent", () =>
    Effect.gen(function*() {
      const seen: Array<Seen> = []
      // The token endpoint and every table's connection break; a commit or load is first redirected (307).
      const layer = server((r) =>
        r.url.pathname === "/v1/config"
          ? config()
          : r.url.host === "catalog.test" && r.url.pathname.includes("/tables/")
          ? new Response(null, { status: 307, headers: { location: `http://moved.test${r.url.pathname}` } })
          : undefined, seen)
      const sent = () => seen.splice(0).filter((r) => r.url.pathname !== "/v1/config").map((r) => `${r.method} ${r.url.host}`)
      assert.strictEqual(yield* reasonOf(catalog, layer, { credential: "k2:secret" }), "CatalogUnavailable")
      assert.deepStrictEqual(sent(), ["POST catalog.test"])
      assert.strictEqual(yield* reasonOf(Effect.flatMap(catalog, (c) => c.commitTable(trades, [], [])), layer), "CommitStateUnknown")
      assert.deepStrictEqual(sent(), ["POST catalog.test", "POST moved.test"])
      assert.strictEqual(yield* reasonOf(Effect.flatMap(catalog, (c) => c.loadTable(trades)), layer), "CatalogUnavailable")
      assert.deepStrictEqual(sent(), ["GET catalog.test", "GET moved.test", "GET moved.test"])
    }))
})

describe("REST catalog client: configuration", () => {
  it.effect("a /v1/config the server fails on (5xx) or sheds (408, 429) fails the catalog as unavailable, naming the request", () =>
    Effect.gen(function*() {
      for (const status of [500, 503, 408, 429]) {
        const failure = yield* Effect.flip(catalog.pipe(withRest(server(() => failing(status)))))
        assert.strictEqual(failure.reason._tag, "CatalogUnavailable")
        assert.include(failure.message, "GET /v1/config")
      }
    }))

  it.effect("a /v1/config refused for its credentials (401, 403, 419) is an auth problem, refused for good and saying so, not an outage", () =>
    Effect.gen(function*() {
      for (const [status, options] of [[401, {}], [403, { token: "t" }], [419, { token: "t" }], [401, { credential: "k2:secret" }]] as const) {
        const layer = server((r) =>
          r.url.pathname === "/v1/oauth/tokens" ? Response.json({ access_token: "issued", token_type: "bearer" }) : failing(status))
        const failure = yield* Effect.flip(catalog.pipe(withRest(layer, options)))
        assert.strictEqual(failure.reason._tag, "CatalogRejected", `${status}`)
        assert.include(failure.message, "GET /v1/config")
        assert.include(failure.message, "credentials")
        assert.include(failure.message, "K2_REST_TOKEN")
      }
    }))

  it.effect("a /v1/config answered 404 (no catalog at that URI or prefix) is refused for good, naming the URI to check", () =>
    Effect.gen(function*() {
      const failure = yield* Effect.flip(catalog.pipe(withRest(server(() => new Response("Not Found", { status: 404 })), { uri: "http://catalog.test/wrong/" })))
      assert.strictEqual(failure.reason._tag, "CatalogRejected")
      assert.include(failure.message, "GET /v1/config")
      assert.include(failure.message, "http://catalog.test/wrong")
      assert.include(failure.message, "catalog URI")
      const inWarehouse = yield* Effect.flip(catalog.pipe(withRest(server(() => failing(404)), { warehouse: "lake" })))
      assert.strictEqual(inWarehouse.reason._tag, "CatalogRejected")
      assert.include(inWarehouse.message, "warehouse lake")
    }))

  it.effect("the server's overrides win over its defaults, and the prefix is used without its outer slashes", () =>
    Effect.gen(function*() {
      const seen: Array<Seen> = []
      const layer = server((r) =>
        r.url.pathname === "/v1/config" ? config({ defaults: { prefix: "default" }, overrides: { prefix: "/catalogs/7/" } }) : failing(404), seen)
      yield* Effect.flatMap(catalog, (c) => c.tableExists(trades)).pipe(withRest(layer))
      assert.strictEqual(seen[1]?.url.pathname, "/v1/catalogs/7/namespaces/market_data/tables/trades")
    }))

  it.effect("the server's overrides.uri is the base of every request after /v1/config (as Iceberg Java builds its client from the merged properties)", () =>
    Effect.gen(function*() {
      const seen: Array<Seen> = []
      const layer = server((r) =>
        r.url.pathname === "/v1/config"
          ? config({ defaults: { uri: "http://ignored.test" }, overrides: { uri: "http://serving.test/api/", prefix: "p" } })
          : r.url.host === "serving.test"
          ? new Response(null, { status: 204 })
          : failing(404), seen)
      assert.isTrue(yield* Effect.flatMap(catalog, (c) => c.tableExists(trades)).pipe(withRest(layer, { token: "t" })))
      assert.strictEqual(seen[1]?.url.href, "http://serving.test/api/v1/p/namespaces/market_data/tables/trades")
      assert.strictEqual(seen[1]?.bearer, "t")
      // Not an http(s) URL: refused, naming it, not sent anywhere.
      const bad = yield* Effect.flip(catalog.pipe(withRest(server((r) => r.url.pathname === "/v1/config" ? config({ overrides: { uri: "not a uri" } }) : failing(404)))))
      assert.strictEqual(bad.reason._tag, "CatalogRejected")
      assert.include(bad.message, "not a uri")
      // From https down to http: the token would go unencrypted, as no redirect takes it.
      const down = yield* Effect.flip(catalog.pipe(withRest(
        server((r) => r.url.pathname === "/v1/config" ? config({ overrides: { uri: "http://serving.test" } }) : failing(404)),
        { uri: "https://catalog.test", token: "t" }
      )))
      assert.strictEqual(down.reason._tag, "CatalogRejected")
      assert.include(down.message, "down to http")
    }))
})

describe("REST catalog client: statuses", () => {
  it.effect("a rate limit (429) or a request timeout (408) passes: CatalogUnavailable; another 4xx is CatalogRejected", () =>
    Effect.gen(function*() {
      const load = Effect.flatMap(catalog, (c) => c.loadTable(trades))
      const answering = (status: number) => server((r) => r.url.pathname === "/v1/config" ? config() : failing(status))
      assert.strictEqual(yield* reasonOf(load, answering(429)), "CatalogUnavailable")
      assert.strictEqual(yield* reasonOf(load, answering(408)), "CatalogUnavailable")
      assert.strictEqual(yield* reasonOf(load, answering(422)), "CatalogRejected")
    }))

  it.effect("404 and 409 name what is missing or in the way, operation by operation", () =>
    Effect.gen(function*() {
      const answering = (status: number, exists = true) =>
        server((r) =>
          r.url.pathname === "/v1/config"
            ? config()
            : r.method === "GET" && r.url.pathname === "/v1/namespaces/market_data"
            ? (exists ? Response.json({ namespace: ["market_data"], properties: {} }) : failing(404))
            : failing(status))
      const run = <A>(f: (c: Catalog["Service"]) => Effect.Effect<A, CatalogError>, status: number) =>
        reasonOf(Effect.flatMap(catalog, f), answering(status))
      assert.strictEqual(yield* run((c) => c.loadTable(trades), 404), "NoSuchTable")
      assert.strictEqual(yield* run((c) => c.dropTable(trades), 404), "NoSuchTable")
      assert.strictEqual(yield* run((c) => c.commitTable(trades, [], []), 404), "NoSuchTable")
      assert.strictEqual(yield* run((c) => c.dropNamespace("market_data"), 404), "NoSuchNamespace")
      assert.strictEqual(yield* run((c) => c.dropNamespace("market_data"), 409), "NamespaceNotEmpty")
      assert.strictEqual(yield* run((c) => c.createTable(trades, tables.trades), 409), "AlreadyExists")
      assert.strictEqual(yield* run((c) => c.createTable(trades, tables.trades), 404), "NoSuchNamespace")
      assert.strictEqual(yield* run((c) => c.createNamespace("market_data"), 409), "AlreadyExists")
    }))

  it.effect("a namespace not empty is NamespaceNotEmpty also when answered 400 (Iceberg's RESTCatalogAdapter and servlet), by the error's type", () =>
    Effect.gen(function*() {
      const drop = Effect.flatMap(catalog, (c) => c.dropNamespace("market_data"))
      const answering = (type: string) =>
        server((r) =>
          r.url.pathname === "/v1/config"
            ? config()
            : Response.json({ error: { message: "Namespace market_data is not empty", type, code: 400 } }, { status: 400 }))
      assert.strictEqual(yield* reasonOf(drop, answering("NamespaceNotEmptyException")), "NamespaceNotEmpty")
      // Another bad request stays a refusal.
      assert.strictEqual(yield* reasonOf(drop, answering("BadRequestException")), "CatalogRejected")
    }))

  it.effect("a table in a namespace that does not exist is NoSuchTable, as in the SQL catalog: callers read a table not created yet as empty", () =>
    Effect.gen(function*() {
      const layer = server((r) =>
        r.url.pathname === "/v1/config"
          ? config()
          : Response.json({ error: { message: "Namespace does not exist: market_data", type: "NoSuchNamespaceException", code: 404 } }, { status: 404 }))
      assert.strictEqual(yield* reasonOf(Effect.flatMap(catalog, (c) => c.loadTable(trades)), layer), "NoSuchTable")
    }))

  it.effect("a commit whose connection breaks may have landed: CommitStateUnknown, also when resent with a renewed token", () =>
    Effect.gen(function*() {
      const commit = Effect.flatMap(catalog, (c) => c.commitTable(trades, [], []))
      const broken = server((r) => r.url.pathname === "/v1/config" ? config() : undefined)
      assert.strictEqual(yield* reasonOf(commit, broken), "CommitStateUnknown")
      let tokens = 0
      const expiredThenBroken = server((r) => {
        if (r.url.pathname === "/v1/config") return config()
        if (r.url.pathname === "/v1/oauth/tokens") return Response.json({ access_token: `token-${++tokens}`, token_type: "bearer" })
        return r.bearer === "token-1" ? failing(419) : undefined
      })
      assert.strictEqual(yield* reasonOf(commit, expiredThenBroken, { credential: "k2:secret" }), "CommitStateUnknown")
      assert.strictEqual(tokens, 2)
    }))
})

describe("REST catalog client: what operations send", () => {
  it.effect("a table dropped is never purged by the server (its files are K2's to remove)", () =>
    Effect.gen(function*() {
      const seen: Array<Seen> = []
      yield* Effect.flatMap(catalog, (c) => c.dropTable(trades)).pipe(
        withRest(server((r) => r.url.pathname === "/v1/config" ? config() : new Response(null, { status: 204 }), seen))
      )
      const drop = seen.find((r) => r.method === "DELETE")
      assert.strictEqual(drop?.url.searchParams.get("purgeRequested"), "false")
    }))

  it.effect("a table is created as format version 2 with its sort order, only once its namespace is known to exist", () =>
    Effect.gen(function*() {
      const bodies: Array<Record<string, unknown>> = []
      const layer = (exists: boolean) =>
        server((r) => {
          if (r.url.pathname === "/v1/config") return config()
          if (r.method === "POST") {
            bodies.push(JSON.parse(r.body ?? "{}"))
            return failing(503)
          }
          return exists ? Response.json({ namespace: ["market_data"], properties: {} }) : failing(404)
        })
      const create = Effect.flatMap(catalog, (c) => c.createTable(trades, tables.trades))
      assert.strictEqual(yield* reasonOf(create, layer(false)), "NoSuchNamespace")
      assert.strictEqual(bodies.length, 0, "a create was sent into a namespace that does not exist")
      yield* Effect.exit(create.pipe(withRest(layer(true))))
      assert.strictEqual(bodies.length, 1)
      assert.strictEqual((bodies[0]!.properties as Record<string, string>)["format-version"], "2")
      assert.deepStrictEqual(bodies[0]!["write-order"], JSON.parse(JSON.stringify(tables.trades.sortOrder)))
    }))

  it.effect("under a parent namespace: its levels are made first (existing is fine), and K2's namespaces are listed and addressed below it", () =>
    Effect.gen(function*() {
      const seen: Array<Seen> = []
      let made = false
      const layer = server((r) => {
        if (r.url.pathname === "/v1/config") return config()
        if (r.method === "POST") {
          made = true
          return JSON.parse(r.body ?? "{}").namespace.length === 1 ? failing(409) : config()
        }
        if (r.url.pathname === "/v1/namespaces") return Response.json({ namespaces: [["ci", "run1", "reference_data"], ["ci", "run1", "market_data"]] })
        // The parent is missing until made.
        if (r.url.pathname === "/v1/namespaces/ci%1Frun1" && !made) return failing(404)
        return new Response(null, { status: 204 })
      }, seen)
      const [names, exists] = yield* Effect.gen(function*() {
        const c = yield* Catalog
        return [yield* c.listNamespaces(), yield* c.namespaceExists("market_data")] as const
      }).pipe(withRest(layer, { parentNamespace: "ci.run1" }))
      assert.deepStrictEqual(names, ["market_data", "reference_data"])
      assert.isTrue(exists)
      assert.deepStrictEqual(seen.filter((r) => r.method === "POST").map((r) => JSON.parse(r.body!).namespace), [["ci"], ["ci", "run1"]])
      assert.strictEqual(seen.find((r) => r.url.pathname === "/v1/namespaces" && r.method === "GET")?.url.searchParams.get("parent"), "ci\u001frun1")
      assert.strictEqual(seen.at(-1)?.url.pathname, "/v1/namespaces/ci%1Frun1%1Fmarket_data")
    }))

  it.effect("a parent namespace that exists is not created again: a principal refused namespace creation (403), or a server not offering it, still starts", () =>
    Effect.gen(function*() {
      for (const endpoints of [undefined, ["GET /v1/{prefix}/namespaces", "GET /v1/{prefix}/namespaces/{namespace}", "GET /v1/{prefix}/namespaces/{namespace}/tables/{table}"]]) {
        const seen: Array<Seen> = []
        const layer = server((r) => {
          if (r.url.pathname === "/v1/config") return config(endpoints === undefined ? {} : { endpoints })
          // Tables may be written in the provisioned namespaces, but no namespace may be made.
          if (r.method === "POST" && r.url.pathname === "/v1/namespaces") return failing(endpoints === undefined ? 403 : 404)
          if (r.url.pathname === "/v1/namespaces/ci%1Frun1" || r.url.pathname === "/v1/namespaces/ci") {
            return Response.json({ namespace: r.url.pathname.endsWith("ci") ? ["ci"] : ["ci", "run1"], properties: {} })
          }
          return Response.json({ namespaces: [["ci", "run1", "market_data"]] })
        }, seen)
        const names = yield* Effect.flatMap(catalog, (c) => c.listNamespaces()).pipe(withRest(layer, { parentNamespace: "ci.run1" }))
        assert.deepStrictEqual(names, ["market_data"])
        assert.deepStrictEqual(seen.filter((r) => r.method === "POST").length, 0)
      }
    }))

  it.effect("a missing parent level on a server not offering namespace creation is refused naming the endpoint, never sent", () =>
    Effect.gen(function*() {
      const seen: Array<Seen> = []
      const layer = server((r) =>
        r.url.pathname === "/v1/config"
          ? config({ endpoints: ["GET /v1/{prefix}/namespaces/{namespace}"] })
          : failing(404), seen)
      const failure = yield* Effect.flip(catalog.pipe(withRest(layer, { parentNamespace: "ci.run1" })))
      assert.strictEqual(failure.reason._tag, "CatalogRejected")
      assert.include(failure.message, "POST /v1/{prefix}/namespaces")
      assert.strictEqual(seen.filter((r) => r.method === "POST").length, 0)
    }))

  it.effect("a parent namespace with an empty level (a stray dot) is refused naming it, nothing sent: the server would make a namespace \"\"", () =>
    Effect.gen(function*() {
      for (const parentNamespace of ["ci.", ".ci", "ci..run1", "."]) {
        const seen: Array<Seen> = []
        const failure = yield* Effect.flip(catalog.pipe(withRest(server(() => config(), seen), { parentNamespace })))
        assert.strictEqual(failure.reason._tag, "CatalogRejected")
        assert.include(failure.message, "K2_REST_PARENT_NAMESPACE")
        assert.include(failure.message, JSON.stringify(parentNamespace))
        assert.deepStrictEqual(seen, [])
      }
    }))

  it.effect("listings: an empty next-page-token ends them, tables come sorted by name, and a page that is an array is no answer", () =>
    Effect.gen(function*() {
      let pages = 0
      const layer = server((r) => {
        if (r.url.pathname === "/v1/config") return config()
        pages++
        return r.url.pathname.endsWith("/tables")
          ? Response.json({ identifiers: [{ namespace: ["market_data"], name: "trades" }, { namespace: ["market_data"], name: "quotes" }], "next-page-token": "" })
          : Response.json([["market_data"]])
      })
      const names = yield* Effect.flatMap(catalog, (c) => c.listTables("market_data")).pipe(withRest(layer))
      assert.deepStrictEqual(names.map((t) => t.name), ["quotes", "trades"])
      assert.strictEqual(pages, 1)
      assert.strictEqual(yield* reasonOf(Effect.flatMap(catalog, (c) => c.listNamespaces()), layer), "CatalogUnavailable")
    }))
})

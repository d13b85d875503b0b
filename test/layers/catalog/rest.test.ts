/** The REST catalog client against a scripted server: how its answers become reasons. */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer, Result } from "effect"
import { TestClock } from "effect/testing"
import { HttpClient, HttpClientError, HttpClientResponse } from "effect/http"
import { vi } from "vitest"
import { stringifyJson } from "../../../src/domain/iceberg/json.ts"
import { tables } from "../../../src/domain/tables.ts"
import * as Rest from "../../../src/layers/catalog/rest.ts"
import type { RestCatalogOptions } from "../../../src/layers/catalog/restOptions.ts"
import { Catalog, type CatalogError } from "../../../src/services/Catalog.ts"

/** A server that knows /v1/config and answers every other request with `status` and an Iceberg error body. */
const scripted = (status: number, error = { message: "scripted", type: "ScriptedException" }) =>
  Layer.succeed(HttpClient.HttpClient)(HttpClient.make((request, url) =>
    Effect.succeed(HttpClientResponse.fromWeb(
      request,
      url.pathname === "/v1/config"
        ? Response.json({ defaults: {}, overrides: {} })
        : status === 204
        ? new Response(null, { status })
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

  it.effect("a commit answered 501 Not Implemented was never carried out: refused for good (as Iceberg Java's UnsupportedOperationException), not an unknown outcome retried", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* commitReason(501), "CatalogRejected")
      // The spec's commit-state-unknown statuses stay so.
      for (const status of [500, 502, 503, 504]) assert.strictEqual(yield* commitReason(status), "CommitStateUnknown")
    }))

  it.effect("a commit answered with another 2xx than 200 (202 from a queueing gateway, 204) may have landed: its outcome is unknown", () =>
    Effect.gen(function*() {
      // Taken for unavailable, a commit whose attempts then ran out would delete the files of one that landed.
      assert.strictEqual(yield* commitReason(202), "CommitStateUnknown")
      assert.strictEqual(yield* commitReason(204), "CommitStateUnknown")
    }))

  it.effect("a snapshot numbered at or below the table's last (built on a stale base) is a conflict, whichever status says so", () =>
    Effect.gen(function*() {
      // Iceberg 1.10's server answers it with 400; apache/iceberg#15126 made it 409 (CommitFailedException).
      const stale = { type: "ValidationException", message: "Cannot add snapshot with sequence number 2 older than last sequence number 2" }
      assert.strictEqual(yield* commitReason(400, stale), "CommitConflict")
      assert.strictEqual(yield* commitReason(400, { type: "ValidationException", message: "Cannot set main to unknown snapshot: 7" }), "CatalogRejected")
    }))

  it.effect("a snapshot id the table has (taken since the base K2 drew against) is a conflict: the retry draws another", () =>
    Effect.gen(function*() {
      const taken = { type: "ValidationException", message: "Snapshot already exists for id: 21" }
      assert.strictEqual(yield* commitReason(400, taken), "CommitConflict")
    }))
})

/** A server answering by route: `answer` sees the method, the raw path (still percent-encoded) and the bearer token. */
const routed = (
  answer: (method: string, path: string, bearer: string | undefined) => Response,
  seen: Array<string> = []
) =>
  Layer.succeed(HttpClient.HttpClient)(HttpClient.make((request, url) =>
    Effect.sync(() => {
      seen.push(`${request.method} ${url.pathname}`)
      const auth = request.headers["authorization"]
      return HttpClientResponse.fromWeb(request, answer(request.method, url.pathname, auth?.replace(/^Bearer /, "")))
    })
  ))

const withRest = (options: RestCatalogOptions, server: Layer.Layer<HttpClient.HttpClient>) =>
  Effect.provide(Layer.effect(Catalog)(Rest.make(options)).pipe(Layer.provide(server)))

describe("REST catalog client: paths and credentials", () => {
  it.effect("puts the prefix from /v1/config into paths as the server gave it (it may hold a slash)", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const server = routed((_method, path) =>
        path === "/v1/config"
          ? Response.json({
            defaults: {},
            overrides: { prefix: "catalogs/123456789012" },
            endpoints: ["HEAD /v1/{prefix}/namespaces/{namespace}/tables/{table}"]
          })
          : new Response(null, { status: path === "/v1/catalogs/123456789012/namespaces/market_data/tables/trades" ? 204 : 404 }), seen)
      const exists = yield* Effect.gen(function*() {
        return yield* (yield* Catalog).tableExists({ namespace: "market_data", name: "trades" })
      }).pipe(withRest({ uri: "http://catalog.test" }, server))
      assert.deepStrictEqual(seen, ["GET /v1/config", "HEAD /v1/catalogs/123456789012/namespaces/market_data/tables/trades"])
      assert.isTrue(exists)
    }))

  it.effect("an expired token answered with 419 (AuthenticationTimeout) is renewed, not taken as a refusal", () =>
    Effect.gen(function*() {
      let tokens = 0
      const server = routed((method, path, bearer) => {
        if (path === "/v1/config") return Response.json({ defaults: {}, overrides: {}, endpoints: ["HEAD /v1/{prefix}/namespaces/{namespace}"] })
        if (path === "/v1/oauth/tokens") return Response.json({ access_token: `token-${++tokens}`, token_type: "bearer" })
        if (bearer !== "token-2") {
          return Response.json({ error: { message: "Credentials have timed out", type: "AuthenticationTimeoutException", code: 419 } }, { status: 419 })
        }
        return new Response(null, { status: method === "HEAD" ? 204 : 404 })
      })
      const exists = yield* Effect.gen(function*() {
        return yield* (yield* Catalog).namespaceExists("market_data")
      }).pipe(withRest({ uri: "http://catalog.test", credential: "k2:secret" }, server))
      assert.isTrue(exists)
      assert.strictEqual(tokens, 2)
    }))

  it.effect("a token is renewed ahead of its expires_in, so no request is sent with one about to expire", () =>
    Effect.gen(function*() {
      let tokens = 0
      const refused: Array<string | undefined> = []
      const server = routed((method, path, bearer) => {
        if (path === "/v1/config") return Response.json({ defaults: {}, overrides: {}, endpoints: ["HEAD /v1/{prefix}/namespaces/{namespace}"] })
        if (path === "/v1/oauth/tokens") return Response.json({ access_token: `token-${++tokens}`, token_type: "bearer", expires_in: 600 })
        if (bearer !== `token-${tokens}`) {
          refused.push(bearer)
          return Response.json({ error: { message: "Credentials have timed out", type: "AuthenticationTimeoutException", code: 419 } }, { status: 419 })
        }
        return new Response(null, { status: method === "HEAD" ? 204 : 404 })
      })
      yield* Effect.gen(function*() {
        const catalog = yield* Catalog
        assert.isTrue(yield* catalog.namespaceExists("market_data"))
        yield* TestClock.adjust("8 minutes")
        assert.isTrue(yield* catalog.namespaceExists("market_data"))
        assert.strictEqual(tokens, 1, "renewed too early")
        // Within a minute of its expiry: renewed before the request.
        yield* TestClock.adjust("1 minute")
        assert.isTrue(yield* catalog.namespaceExists("market_data"))
        assert.strictEqual(tokens, 2)
      }).pipe(withRest({ uri: "http://catalog.test", credential: "k2:secret" }, server))
      assert.deepStrictEqual(refused, [])
    }))

  it.effect("credentials the token endpoint refuses (OAuth2 400/401 invalid_client) are refused for good, with the server's description", () =>
    Effect.gen(function*() {
      for (const status of [400, 401]) {
        const server = routed((_method, path) =>
          path === "/v1/oauth/tokens"
            ? Response.json({ error: "invalid_client", error_description: "Client authentication failed" }, { status })
            : Response.json({ defaults: {}, overrides: {} }))
        const failure = yield* Effect.gen(function*() {
          return yield* (yield* Catalog).namespaceExists("market_data")
        }).pipe(withRest({ uri: "http://catalog.test", credential: "k2:wrong" }, server), Effect.flip)
        // Unavailable, a wrong secret was retried for as long as ingestion runs.
        assert.strictEqual(failure.reason._tag, "CatalogRejected")
        assert.include(failure.message, "invalid_client")
        assert.include(failure.message, "Client authentication failed")
      }
    }))

  it.effect("a commit answered with 419 and no way to renew the token did not land and may pass: not a refusal", () =>
    Effect.gen(function*() {
      assert.strictEqual(
        yield* commitReason(419, { message: "Credentials have timed out", type: "AuthenticationTimeoutException" }),
        "CatalogUnavailable"
      )
    }))

  it.effect("answers that are not JSON fail as CatalogUnavailable, not as defects", () =>
    Effect.gen(function*() {
      const html = () => new Response("<html>login</html>", { status: 200, headers: { "content-type": "text/html" } })
      // The configuration itself.
      const config = yield* Effect.exit(Effect.gen(function*() {
        return yield* Catalog
      }).pipe(withRest({ uri: "http://catalog.test" }, routed(html))))
      assert.strictEqual(reasonOfExit(config), "CatalogUnavailable")
      // A list page, and an OAuth2 token answer.
      const lists = routed((_m, path) => path === "/v1/config" ? Response.json({ overrides: {} }) : html())
      const listed = yield* Effect.exit(Effect.gen(function*() {
        return yield* (yield* Catalog).listNamespaces()
      }).pipe(withRest({ uri: "http://catalog.test" }, lists)))
      assert.strictEqual(reasonOfExit(listed), "CatalogUnavailable")
      const token = yield* Effect.exit(Effect.gen(function*() {
        return yield* Catalog
      }).pipe(withRest({ uri: "http://catalog.test", credential: "k2:secret" }, routed(html))))
      assert.strictEqual(reasonOfExit(token), "CatalogUnavailable")
    }))
})

describe("REST catalog client: a server that cannot be reached", () => {
  /** A client whose every request fails as fetch fails: a TypeError "fetch failed" whose cause says why. */
  const unreachable = (why: Error) =>
    Layer.succeed(HttpClient.HttpClient)(HttpClient.make((request) =>
      Effect.fail(
        new HttpClientError.HttpClientError({
          reason: new HttpClientError.TransportError({ request, cause: new TypeError("fetch failed", { cause: why }) })
        })
      )
    ))

  it.effect("says why: the name does not resolve, or the connection is refused (an AggregateError with an empty message)", () =>
    Effect.gen(function*() {
      const open = (why: Error) =>
        Effect.flip(Effect.gen(function*() {
          return yield* Catalog
        }).pipe(withRest({ uri: "http://catalog.test" }, unreachable(why))))
      const dns = yield* open(Object.assign(new Error("getaddrinfo ENOTFOUND catalog.test"), { code: "ENOTFOUND" }))
      assert.strictEqual(dns.reason._tag, "CatalogUnavailable")
      assert.include(dns.message, "getaddrinfo ENOTFOUND catalog.test")
      const refused = yield* open(Object.assign(
        new AggregateError([new Error("connect ECONNREFUSED ::1:8181"), new Error("connect ECONNREFUSED 127.0.0.1:8181")]),
        { code: "ECONNREFUSED" }
      ))
      assert.include(refused.message, "connect ECONNREFUSED 127.0.0.1:8181")
    }))
})

const reasonOfExit = (exit: Exit.Exit<unknown, unknown>) => {
  assert.isTrue(Exit.isFailure(exit), "expected a failure")
  const failure = Exit.isFailure(exit) ? exit.cause.reasons.find((r) => r._tag === "Fail") : undefined
  return (failure as { error: CatalogError } | undefined)?.error.reason._tag ?? "no typed failure"
}

describe("REST catalog client: paging", () => {
  it.effect("a server that hands back the page token it was given (it ignores pageToken) is an error, not an endless listing", () =>
    Effect.gen(function*() {
      let pages = 0
      const server = routed((_method, path) => {
        if (path === "/v1/config") return Response.json({ overrides: {} })
        // Bounded so that the test ends even when the client keeps asking.
        return ++pages > 20
          ? Response.json({ namespaces: [] })
          : Response.json({ namespaces: [["market_data"]], "next-page-token": "p1" })
      })
      const listed = yield* Effect.exit(Effect.gen(function*() {
        return yield* (yield* Catalog).listNamespaces()
      }).pipe(withRest({ uri: "http://catalog.test" }, server)))
      assert.strictEqual(reasonOfExit(listed), "CatalogUnavailable")
      assert.strictEqual(pages, 2)
    }))
})

describe("REST catalog client: endpoints the server advertises", () => {
  const HEAD_NAMESPACE = "HEAD /v1/{prefix}/namespaces/{namespace}"
  const HEAD_TABLE = "HEAD /v1/{prefix}/namespaces/{namespace}/tables/{table}"
  /** A server that knows only GET for loading (HEAD: 405), and advertises `endpoints` when given. */
  const server = (endpoints: ReadonlyArray<string> | undefined, seen: Array<string>) =>
    routed((method, path) => {
      if (path === "/v1/config") return Response.json({ overrides: {}, ...(endpoints === undefined ? {} : { endpoints }) })
      if (method === "HEAD" && (endpoints === undefined || endpoints.length === 0)) {
        return Response.json({ error: { message: "Method Not Allowed", type: "NotAllowed", code: 405 } }, { status: 405 })
      }
      if (path === "/v1/namespaces/market_data") {
        return method === "HEAD" ? new Response(null, { status: 204 }) : Response.json({ namespace: ["market_data"], properties: {} })
      }
      return Response.json({ error: { message: "no such table", type: "NoSuchTableException", code: 404 } }, { status: 404 })
    }, seen)

  const exists = Effect.gen(function*() {
    const catalog = yield* Catalog
    return [yield* catalog.namespaceExists("market_data"), yield* catalog.tableExists({ namespace: "market_data", name: "trades" })]
  })

  it.effect("without HEAD in `endpoints` (or no `endpoints`: the spec's default set), existence is asked with GET", () =>
    Effect.gen(function*() {
      for (const endpoints of [undefined, []]) {
        const seen: Array<string> = []
        const answer = yield* Effect.result(exists.pipe(withRest({ uri: "http://catalog.test" }, server(endpoints, seen))))
        assert.deepStrictEqual(Result.isFailure(answer) ? answer.failure.message : answer.success, [true, false])
        assert.deepStrictEqual(seen.slice(1).map((s) => s.split(" ")[0]), ["GET", "GET"])
      }
    }))

  it.effect("with HEAD advertised, existence is asked with HEAD", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const answer = yield* exists.pipe(withRest({ uri: "http://catalog.test" }, server([HEAD_NAMESPACE, HEAD_TABLE], seen)))
      assert.deepStrictEqual(answer, [true, false])
      assert.deepStrictEqual(seen.slice(1).map((s) => s.split(" ")[0]), ["HEAD", "HEAD"])
    }))
})

describe("REST catalog client: a read-only server", () => {
  it.effect("a commit or drop the advertised `endpoints` leave out is refused naming the endpoint, never sent (its 404 would say the table is gone)", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const readOnly = [
        "GET /v1/{prefix}/namespaces",
        "GET /v1/{prefix}/namespaces/{namespace}",
        "GET /v1/{prefix}/namespaces/{namespace}/tables",
        "GET /v1/{prefix}/namespaces/{namespace}/tables/{table}"
      ]
      const server = routed((_method, path) =>
        path === "/v1/config"
          ? Response.json({ overrides: {}, endpoints: readOnly })
          : Response.json({ error: { message: "Not Found", type: "NotFoundException", code: 404 } }, { status: 404 }), seen)
      const id = { namespace: "market_data", name: "trades" }
      const failures = yield* Effect.gen(function*() {
        const catalog = yield* Catalog
        return [
          yield* Effect.flip(catalog.commitTable(id, [], [])),
          yield* Effect.flip(catalog.dropTable(id)),
          yield* Effect.flip(catalog.dropNamespace("market_data"))
        ]
      }).pipe(withRest({ uri: "http://catalog.test" }, server))
      assert.deepStrictEqual(failures.map((e) => e.reason._tag), ["CatalogRejected", "CatalogRejected", "CatalogRejected"])
      assert.include(failures[0]!.message, "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}")
      assert.deepStrictEqual(seen, ["GET /v1/config"])
    }))
})

describe("REST catalog client: list answers of the wrong shape", () => {
  /** The failure of listing namespaces (or tables) when a list page's body is `body`. */
  const listFailure = (body: unknown, list: "namespaces" | "tables") =>
    Effect.gen(function*() {
      const server = routed((_method, path) => path === "/v1/config" ? Response.json({ overrides: {} }) : Response.json(body))
      const exit = yield* Effect.exit(Effect.gen(function*() {
        const catalog = yield* Catalog
        return list === "namespaces" ? yield* catalog.listNamespaces() : yield* catalog.listTables("market_data")
      }).pipe(withRest({ uri: "http://catalog.test" }, server)))
      assert.strictEqual(reasonOfExit(exit), "CatalogUnavailable")
      const failure = Exit.isFailure(exit) ? exit.cause.reasons.find((r) => r._tag === "Fail") : undefined
      return String((failure as { error: CatalogError }).error.reason.message)
    })

  it.effect("namespaces that are not an array, or a namespace that is not an array of strings: CatalogUnavailable naming it", () =>
    Effect.gen(function*() {
      assert.match(yield* listFailure({ namespaces: { a: ["x"] } }, "namespaces"), /namespaces/)
      assert.match(yield* listFailure({ namespaces: "market_data" }, "namespaces"), /namespaces/)
      assert.match(yield* listFailure({ namespaces: ["market_data"] }, "namespaces"), /"market_data"/)
      assert.match(yield* listFailure({ namespaces: [["market", 7]] }, "namespaces"), /\["market",7\]/)
    }))

  it.effect("identifiers that are not an array, or an identifier without a string name: CatalogUnavailable naming it", () =>
    Effect.gen(function*() {
      assert.match(yield* listFailure({ identifiers: { name: "trades" } }, "tables"), /identifiers/)
      assert.match(yield* listFailure({ identifiers: [{ namespace: ["market_data"], name: 7 }] }, "tables"), /"name":7/)
      assert.match(yield* listFailure({ identifiers: [null] }, "tables"), /null/)
      assert.match(yield* listFailure({ identifiers: ["trades"] }, "tables"), /"trades"/)
    }))
})

describe("REST catalog client: table locations", () => {
  it.effect("asks for <tableLocationRoot>/<level>/.../<name>: a directory for each level of the server's namespace", () =>
    Effect.gen(function*() {
      const asked: Array<unknown> = []
      const server = Layer.succeed(HttpClient.HttpClient)(HttpClient.make((request, url) =>
        Effect.sync(() => {
          const creating = request.method === "POST" && url.pathname.endsWith("/tables")
          if (creating) asked.push(JSON.parse((request.body as { text?: string }).text ?? "{}").location)
          return HttpClientResponse.fromWeb(
            request,
            url.pathname === "/v1/config"
              ? Response.json({ defaults: {}, overrides: {} })
              : creating
              ? Response.json({ error: { message: "scripted", type: "ScriptedException", code: 503 } }, { status: 503 })
              : Response.json({ namespace: [], properties: {} })
          )
        })
      ))
      yield* Effect.exit(Effect.gen(function*() {
        yield* (yield* Catalog).createTable({ namespace: "exchange.binance", name: "trades" }, tables.trades)
      }).pipe(withRest({ uri: "http://catalog.test", tableLocationRoot: "file:///warehouse/", parentNamespace: "ci" }, server)))
      assert.deepStrictEqual(asked, ["file:///warehouse/ci/exchange/binance/trades"])
    }))
})

describe("REST catalog client: commit requests", () => {
  it.effect("a set-snapshot-ref goes out with the ref's retention fields (SetSnapshotRefUpdate: the server replaces the ref with it)", () =>
    Effect.gen(function*() {
      const bodies: Array<string> = []
      const server = Layer.succeed(HttpClient.HttpClient)(HttpClient.make((request, url) =>
        Effect.sync(() => {
          if (request.method === "POST" && url.pathname.endsWith("/tables/trades")) bodies.push((request.body as { text?: string }).text ?? "")
          return HttpClientResponse.fromWeb(
            request,
            url.pathname === "/v1/config"
              ? Response.json({ defaults: {}, overrides: {} })
              : Response.json({ error: { message: "scripted", type: "ScriptedException", code: 503 } }, { status: 503 })
          )
        })
      ))
      yield* Effect.exit(Effect.gen(function*() {
        yield* (yield* Catalog).commitTable({ namespace: "market_data", name: "trades" }, [], [{
          action: "set-snapshot-ref",
          "ref-name": "main",
          type: "branch",
          "snapshot-id": 9007199254740993n,
          "min-snapshots-to-keep": 5,
          "max-snapshot-age-ms": 86_400_000,
          "max-ref-age-ms": 604_800_000
        }])
      }).pipe(withRest({ uri: "http://catalog.test" }, server)))
      assert.strictEqual(bodies.length, 1)
      assert.include(
        bodies[0]!,
        `{"action":"set-snapshot-ref","ref-name":"main","type":"branch","snapshot-id":9007199254740993,"min-snapshots-to-keep":5,"max-snapshot-age-ms":86400000,"max-ref-age-ms":604800000}`
      )
    }))
})

describe("REST catalog client: table answers that are not a table", () => {
  it.effect("a 200 whose body is JSON null, or names its metadata-location with a broken escape, is a typed failure, not a defect", () =>
    Effect.gen(function*() {
      for (const body of ["null", `{"metadata-location":"\\u12"}`]) {
        const server = routed((_m, path) => path === "/v1/config" ? Response.json({ overrides: {} }) : new Response(body, { status: 200 }))
        const id = { namespace: "market_data", name: "trades" }
        // Accepted: what landed is unknown, so the caller looks for its commit id and keeps its files.
        const committed = yield* Effect.exit(Effect.gen(function*() {
          return yield* (yield* Catalog).commitTable(id, [], [])
        }).pipe(withRest({ uri: "http://catalog.test" }, server)))
        assert.strictEqual(reasonOfExit(committed), "CommitStateUnknown", body)
        const loadedTable = yield* Effect.exit(Effect.gen(function*() {
          return yield* (yield* Catalog).loadTable(id)
        }).pipe(withRest({ uri: "http://catalog.test" }, server)))
        assert.strictEqual(reasonOfExit(loadedTable), "CatalogUnavailable", body)
      }
    }))
})

describe("REST catalog client: a commit whose token cannot be had", () => {
  it.effect("was never sent: the token endpoint's refusal or outage is its reason, not CommitStateUnknown", () =>
    Effect.gen(function*() {
      for (const [status, reason] of [[400, "CatalogRejected"], [503, "CatalogUnavailable"]] as const) {
        let tokens = 0
        const commits: Array<string> = []
        const server = routed((method, path) => {
          if (path === "/v1/config") return Response.json({ overrides: {} })
          if (path === "/v1/oauth/tokens") {
            return ++tokens === 1
              ? Response.json({ access_token: "token-1", token_type: "bearer", expires_in: 600 })
              : Response.json({ error: "invalid_client", error_description: "Client authentication failed" }, { status })
          }
          commits.push(`${method} ${path}`)
          return Response.json({ error: { message: "scripted", type: "ScriptedException", code: 500 } }, { status: 500 })
        })
        const exit = yield* Effect.exit(Effect.gen(function*() {
          const catalog = yield* Catalog
          // The token is due for renewal at the commit.
          yield* TestClock.adjust("10 minutes")
          return yield* catalog.commitTable({ namespace: "market_data", name: "trades" }, [], [])
        }).pipe(withRest({ uri: "http://catalog.test", credential: "k2:secret" }, server)))
        assert.deepStrictEqual(commits, [])
        // Unknown, the caller would keep its files and wait out refused credentials as if the commit might have landed.
        assert.strictEqual(reasonOfExit(exit), reason)
      }
    }))
})

describe("REST catalog client: a table's metadata", () => {
  // The answer was parsed, its metadata written back to text, and that text parsed again: every load
  // of a table not cached (each commit's answer, a serve's reload) did twice the work of one parse.
  it.effect("is parsed once per load, not encoded again and parsed a second time", () =>
    Effect.gen(function*() {
      // Ids spread over the 63 bits, as Java draws them: no two round to one double.
      const idOf = (i: number) => 2_305_843_009_213_693n * BigInt(i + 1) + 7n
      const snapshots = Array.from({ length: 2_000 }, (_, i) => ({
        "sequence-number": i + 1,
        "snapshot-id": idOf(i),
        ...(i === 0 ? {} : { "parent-snapshot-id": idOf(i - 1) }),
        "timestamp-ms": 1_700_000_000_000 + i,
        summary: { operation: "append", "k2.kafka.offsets.k2-ingest": JSON.stringify({ t: { "0": i } }) },
        "manifest-list": `file:///wh/market_data/trades/metadata/snap-${i}.avro`,
        "schema-id": 0
      }))
      const last = snapshots.at(-1)!["snapshot-id"]
      const body = stringifyJson({
        "metadata-location": "file:///wh/market_data/trades/metadata/00001-a.metadata.json",
        metadata: {
          "format-version": 2, "table-uuid": "9c12d441-03fe-4693-9a96-a0705ddf69c1", location: "file:///wh/market_data/trades",
          "last-sequence-number": 2_000, "last-updated-ms": 1_700_000_002_000, "last-column-id": 1, "current-schema-id": 0,
          schemas: [{ type: "struct", "schema-id": 0, fields: [{ id: 1, name: "x", required: false, type: "int" }] }],
          "default-spec-id": 0, "partition-specs": [{ "spec-id": 0, fields: [] }], "last-partition-id": 999,
          "default-sort-order-id": 0, "sort-orders": [{ "order-id": 0, fields: [] }], properties: {},
          "current-snapshot-id": last, refs: { main: { "snapshot-id": last, type: "branch" } }, snapshots,
          "snapshot-log": [], "metadata-log": []
        }
      })
      const server = routed((_m, path) =>
        path === "/v1/config" ? Response.json({ overrides: {} }) : new Response(body, { status: 200, headers: { "content-type": "application/json" } })
      )
      let parsedChars = 0
      const parse = JSON.parse
      const spied = vi.spyOn(JSON, "parse").mockImplementation((text: string, reviver?: Parameters<typeof JSON.parse>[1]) => {
        parsedChars += text.length
        return parse(text, reviver)
      })
      const loaded = yield* Effect.gen(function*() {
        return yield* (yield* Catalog).loadTable({ namespace: "market_data", name: "trades" })
      }).pipe(withRest({ uri: "http://catalog.test" }, server), Effect.ensuring(Effect.sync(() => spied.mockRestore())))
      assert.strictEqual(loaded.metadata.snapshots.length, 2_000)
      assert.strictEqual(loaded.metadata["current-snapshot-id"], last)
      assert.isAtMost(parsedChars, body.length * 1.1, `${parsedChars} characters parsed for an answer of ${body.length}`)
    }))
})

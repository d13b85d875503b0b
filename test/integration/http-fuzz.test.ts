/**
 * Hostile input over real HTTP: thousands of random and malformed requests (bad params, huge
 * values, wrong types, path tricks, SQL injection in every string, SQL endpoint escapes).
 * No 5xx, no file written, and the server stays up and correct afterwards.
 */
import * as fs from "node:fs"
import { assert, layer } from "@effect/vitest"
import { Effect, SchemaAST } from "effect"
import { FindMyWay } from "effect/http"
import { HttpApi } from "effect/http-api"
import { Api } from "../../src/domain/api/Api.ts"
import * as Ref from "../domain/query/reference.ts"
import { DAY, T0 } from "../layers/query/data.ts"
import { Fixture } from "../layers/query/fixture.ts"
import { auth, baseUrl, KEYS, served, testOptions } from "./http-support.ts"

const random = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const CANARY = "/tmp/k2-fuzz-canary"

const INJECTIONS = [
  "' OR 1=1 --", "'; DROP TABLE trades; --", "\" OR \"\"=\"", "BHP') UNION SELECT * FROM read_csv('/etc/passwd') --",
  "1; COPY trades TO '" + CANARY + "1.csv'", "$(rm -rf /)", "../../../../etc/passwd", "%00", "\u0000", "😀".repeat(50),
  "A".repeat(100_000), "-1", "1e309", "NaN", "Infinity", "null", "[]", "{}", "true", "0x7fffffffffffffff",
  "99999999999999999999999999", "-99999999999999999999", "2024-02-30", "2024-13-01T00:00:00Z", "<script>alert(1)</script>",
  "${jndi:ldap://x/a}", "%2e%2e%2f%2e%2e%2f", "price:1:2:3", "price::", "bid_price:abc", "*", ",,,,", "\\", "'", "\"",
  "read_parquet('/etc/passwd')", "ATTACH 'x'", "PRAGMA version", "INSTALL httpfs"
]

const SQL_ESCAPES = [
  "SELECT * FROM read_csv('/etc/passwd')", "SELECT * FROM read_text('/etc/shadow')", "SELECT * FROM read_blob('/proc/self/environ')",
  "SELECT * FROM glob('/**')", `COPY (SELECT 1) TO '${CANARY}2.csv'`, `COPY trades TO '${CANARY}3.parquet' (FORMAT parquet)`,
  `ATTACH '${CANARY}4.db' AS x`, "INSTALL httpfs", "LOAD httpfs", "PRAGMA database_list", "SET enable_external_access = true",
  "SET lock_configuration = false", "SELECT 1; SELECT 2", `SELECT 1; COPY (SELECT 1) TO '${CANARY}5.csv'`,
  "SELECT * FROM read_parquet('http://127.0.0.1:1/x.parquet')", "SELECT * FROM read_json('https://example.com/x.json')",
  "CREATE TABLE t AS SELECT 1", "DROP VIEW trades", "EXPORT DATABASE '/tmp/k2-fuzz-export'", "CALL pragma_version()",
  "SELECT * FROM duckdb_secrets()", `SELECT 1) TO '${CANARY}6.csv' (FORMAT csv); --`, "SELECT * FROM trades WHERE symbol = '' OR 1=1",
  "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r", "SELECT repeat('x', 1000000000)",
  "DETACH memory", "USE system", "CHECKPOINT", "VACUUM", "SELECT current_setting('allowed_paths')", ""
]

const PATHS = [
  "/v1/trades", "/v1/quotes", "/v1/bars", "/v1/summary", "/v1/quotes/bars", "/v1/trades/with-quotes", "/v1/symbols", "/v1/instruments",
  "/v1/snapshots/trades", "/v1/stats/quotes", "/v1/replay", "/v1/sql", "/v1/../etc/passwd", "/v1/%2e%2e/%2e%2e/etc/passwd", "/v1//trades",
  "/v1/snapshots/..%2f..%2fcatalog.db", "/v1/stats/%00", "/v1/trades/", "/V1/TRADES", "/openapi.json/..", "/docs/../../etc", "/v1/sql/x", "/metrics?x=1"
]
/** The query parameters each GET route declares: most fuzzed names are the route's own (unknown ones are a 400). */
const declared = (() => {
  const router = FindMyWay.make<ReadonlyArray<string>>()
  HttpApi.reflect(Api, {
    onGroup: () => {},
    onEndpoint: ({ endpoint }) => {
      const ast = endpoint.query?.ast
      router.on(endpoint.method, endpoint.path as FindMyWay.PathInput, ast !== undefined && SchemaAST.isObjects(ast) ? ast.propertySignatures.map((p) => String(p.name)) : [])
    }
  })
  return (path: string): ReadonlyArray<string> => router.find("GET", path)?.handler ?? []
})()
const PARAMS = ["symbols", "from", "to", "limit", "cursor", "fields", "filter", "snapshot_id", "as_of", "format", "interval", "from_day", "to_day", "lookback_us", "tables", "speed", "x"]

layer(served(testOptions()), { timeout: 600_000, excludeTestServices: true })("HTTP fuzz", (it) => {
  it.effect("thousands of hostile requests: no 5xx, no file access, still correct afterwards", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const f = yield* Fixture
      const r = random(42)
      const pick = <A>(xs: ReadonlyArray<A>) => xs[Math.floor(r() * xs.length)]!
      const good = () => {
        const at = T0 + Math.floor(r() * 3 * DAY)
        return pick([new Date(at / 1000).toISOString(), String(at), "2024-01-02", "2024-01-04"])
      }
      const value = () => (r() < 0.5 ? pick(INJECTIONS) : r() < 0.5 ? good() : String(Math.floor((r() - 0.5) * 1e12)))
      const requests: Array<() => Promise<Response>> = []
      for (let i = 0; i < 3_000; i++) {
        const key = pick([KEYS.full, KEYS.full, KEYS.full, KEYS.reader, "bad-key", ""])
        const headers: Record<string, string> = key === "" ? {} : r() < 0.5 ? { "x-api-key": key } : { authorization: `Bearer ${key}` }
        if (r() < 0.1) headers["accept"] = pick(["text/csv", "application/x-parquet", "*/*", "text/event-stream", "garbage/;;;q=x", "application/json;q=0"])
        if (r() < 0.1) headers["x-correlation-id"] = pick(["ok-1", "' OR 1=1", "x".repeat(500)])
        if (r() < 0.05) headers["if-none-match"] = pick(["*", "\"x\"", "W/\"y\"", ","])
        const path = pick(PATHS)
        if (path === "/v1/sql" && r() < 0.8) {
          const body = r() < 0.7
            ? JSON.stringify({ sql: pick(SQL_ESCAPES), ...(r() < 0.3 ? { limit: pick([0, -1, 1e9, 5, "x", null]) } : {}), ...(r() < 0.2 ? { snapshot_id: value() } : {}), ...(r() < 0.2 ? { format: pick(["json", "csv", "parquet", "xml"]) } : {}) })
            : pick(["{", "[]", "null", "{\"sql\": 1}", "x".repeat(200_000), JSON.stringify({ sql: "SELECT 1", extra: true })])
          requests.push(() => fetch(`${base}${path}`, { method: "POST", headers: { ...headers, "content-type": pick(["application/json", "text/plain", "application/json"]) }, body }))
          continue
        }
        const q = new URLSearchParams()
        const n = Math.floor(r() * 4)
        const own = declared(path)
        for (let j = 0; j < n; j++) q.append(own.length > 0 && r() < 0.97 ? pick(own) : pick(PARAMS), value())
        if (own.includes("from") && r() < 0.5) {
          q.set("from", good())
          q.set("to", good())
        }
        const method = r() < 0.95 ? "GET" : pick(["PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"])
        requests.push(() => fetch(`${base}${path}?${q.toString()}`, { method, headers }))
      }
      const statuses = new Map<number, number>()
      const fives: Array<string> = []
      let next = 0
      yield* Effect.promise(() =>
        Promise.all(Array.from({ length: 16 }, async () => {
          while (next < requests.length) {
            const i = next++
            const res = await requests[i]!()
            const body = await res.text()
            statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
            // A runaway statement (an endless recursive CTE) meets the SQL time limit: 503 query_timeout, as
            // documented; one that waited as long for a slot held by such runs is 503 sql_busy; a replay
            // or CSV export past the key's streaming slots (K2_API_MAX_STREAMS_PER_KEY) 503 streams_busy.
            if (res.status >= 500 && !/"code":"(query_timeout|sql_busy|streams_busy)"/.test(body)) fives.push(`${res.status} ${body.slice(0, 300)}`)
            if (body.includes("root:x:0:0")) fives.push(`leak: ${body.slice(0, 200)}`)
            if (/\n\s+at /.test(body)) fives.push(`stack: ${body.slice(0, 200)}`)
          }
        }))
      )
      assert.deepStrictEqual(fives, [], JSON.stringify([...statuses]))
      assert.isAbove(statuses.get(200) ?? 0, 100)
      assert.isAbove(statuses.get(400) ?? 0, 100)
      for (const name of fs.readdirSync("/tmp")) assert.isFalse(name.startsWith("k2-fuzz-"), name)
      // Still up and still right.
      assert.strictEqual((yield* Effect.promise(() => fetch(`${base}/ready`))).status, 200)
      const res = yield* Effect.promise(() => fetch(`${base}/v1/trades?symbols=MSFT&from=2024-01-02&to=2024-01-05&limit=10000&fields=message_id`, { headers: auth(KEYS.reader) }))
      const body = yield* Effect.promise(() => res.json() as Promise<any>)
      assert.deepStrictEqual(body.data.map((x: any) => x.message_id), Ref.selectRows(f.trades, { from: T0, to: T0 + 3 * DAY, symbols: ["MSFT"] }).map((x) => x.message_id))
    }))
})

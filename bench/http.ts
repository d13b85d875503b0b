/**
 * `npm run bench -- http`: HTTP load on the API from a separate process (wrk), bounded in
 * time, on loopback only. Serves the query bench's table (`npm run bench -- query` builds it
 * under .k2/bench/query-<K2_BENCH_TRADES>) and reports requests/s, p50 and p99 for one
 * symbol's 1-minute bars for a day and for a page of trades: the same URL again and again
 * (answers at a snapshot are cached by ETag) and rotating over symbols and days.
 *
 * Needs `wrk` (Debian: apt-get install -y wrk). K2_BENCH_HTTP_SECONDS (default 10) per
 * scenario, K2_BENCH_HTTP_CONNECTIONS (default 32).
 */
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Context, Effect, Layer } from "effect"
import { HttpServer } from "effect/http"
import { defaults, sha256Hex } from "../src/layers/http/config.ts"
import * as Server from "../src/layers/http/server.ts"
import * as Lakehouse from "../src/layers/lakehouse.ts"
import * as QueryLayer from "../src/layers/query/engine.ts"
import * as ReplayLayer from "../src/layers/replay/engine.ts"

const KEY = "bench-key"
const START = Date.UTC(2024, 0, 1)
const day = (d: number) => new Date(START + d * 86_400_000).toISOString().slice(0, 10)
const sym = (s: number) => `S${String(s).padStart(3, "0")}`

const wrk = (args: ReadonlyArray<string>) =>
  Effect.callback<string, Error>((resume) => {
    execFile("wrk", [...args], { timeout: 600_000 }, (error, stdout, stderr) => {
      if (error) resume(Effect.fail(new Error(`wrk failed: ${error.message} ${stderr}`)))
      else resume(Effect.succeed(stdout))
    })
  })

const ms = (text: string | undefined) => {
  if (text === undefined) return NaN
  const m = /^([\d.]+)(us|ms|s)$/.exec(text.trim())
  if (!m) return NaN
  const v = Number(m[1])
  return m[2] === "us" ? v / 1000 : m[2] === "s" ? v * 1000 : v
}

const parse = (out: string) => ({
  rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
  p50: ms(/\s50%\s+(\S+)/.exec(out)?.[1]),
  p99: ms(/\s99%\s+(\S+)/.exec(out)?.[1]),
  errors: Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0) +
    (/Socket errors:.*?(\d+).*?(\d+).*?(\d+).*?(\d+)/.exec(out)?.slice(1).reduce((n, x) => n + Number(x), 0) ?? 0)
})

/** A wrk Lua script cycling through paths. */
const rotating = (paths: ReadonlyArray<string>) => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "k2-wrk-")), "paths.lua")
  fs.writeFileSync(file, `local paths = {${paths.map((p) => JSON.stringify(p)).join(",")}}
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i], { ["X-API-Key"] = "${KEY}" })
end
`)
  return file
}

export const benchHttpEffect = (): Effect.Effect<Record<string, number | string>, unknown> =>
  Effect.gen(function*() {
    const which = yield* Effect.promise(() => new Promise<boolean>((r) => execFile("wrk", ["--version"], (e, out) => r(e === null || out.includes("wrk")))))
    if (!which) return yield* Effect.fail(new Error("wrk is not installed: apt-get install -y wrk"))
    const total = Number(process.env["K2_BENCH_TRADES"] ?? 50_000_000)
    const warehouse = path.resolve(".k2", "bench", `query-${total}`)
    if (!fs.existsSync(path.join(warehouse, "catalog.db"))) {
      return yield* Effect.fail(new Error(`no bench table at ${warehouse}: run npm run bench -- query first`))
    }
    const seconds = Number(process.env["K2_BENCH_HTTP_SECONDS"] ?? 10)
    const connections = Number(process.env["K2_BENCH_HTTP_CONNECTIONS"] ?? 32)
    const lakehouse = Lakehouse.layer({ warehouse, catalog: { _tag: "sqlite", path: path.join(warehouse, "catalog.db") }, duckDbConnections: 3 })
    const engines = Layer.mergeAll(QueryLayer.layer(), ReplayLayer.layer).pipe(Layer.provideMerge(lakehouse))
    const app = Server.layer({
      ...defaults,
      keys: [{ name: "bench", sha256: sha256Hex(KEY), scopes: new Set(["read"]) }],
      rateLimit: 100_000_000,
      warehouse
    }).pipe(Layer.provide(engines), Layer.provideMerge(Server.nodeServer({ port: 0, host: "127.0.0.1" })))
    return yield* Effect.scoped(Effect.gen(function*() {
      const context = yield* Layer.build(app)
      const server = Context.get(context, HttpServer.HttpServer)
      const base = HttpServer.formatAddress(server.address).replace(/\/$/, "")
      if (!/^http:\/\/127\.0\.0\.1:/.test(base)) return yield* Effect.die(new Error(`not loopback: ${base}`))
      const bars = (s: number, d: number) => `/v1/bars?symbols=${sym(s)}&from=${day(d)}&to=${day(d + 1)}&interval=1m`
      const trades = (s: number, d: number) => `/v1/trades?symbols=${sym(s)}&from=${day(d)}&to=${day(d + 1)}&limit=100`
      const scenarios: Array<[string, Array<string>]> = [
        ["bars 1m, one symbol-day (same URL)", ["--latency", `${base}${bars(7, 10)}`]],
        ["trades page of 100 (same URL)", ["--latency", `${base}${trades(7, 10)}`]],
        ["bars 1m, rotating 100 symbols x 30 days", ["--latency", "-s", rotating(Array.from({ length: 3000 }, (_, i) => bars(i % 100, Math.floor(i / 100)))), base]],
        ["trades page, rotating 100 symbols x 30 days", ["--latency", "-s", rotating(Array.from({ length: 3000 }, (_, i) => trades(i % 100, Math.floor(i / 100)))), base]]
      ]
      const out: Record<string, number | string> = { "table rows": total, "wrk connections": connections, "seconds per scenario": seconds }
      for (const [name, args] of scenarios) {
        const text = yield* wrk(["-t1", `-c${connections}`, `-d${seconds}s`, "-H", `X-API-Key: ${KEY}`, ...args])
        const r = parse(text)
        out[`${name}: requests/s`] = Math.round(r.rps)
        out[`${name}: p50 ms`] = Number(r.p50.toFixed(2))
        out[`${name}: p99 ms`] = Number(r.p99.toFixed(2))
        out[`${name}: errors`] = r.errors
      }
      return out
    }))
  })

if (import.meta.url === `file://${process.argv[1]}`) {
  Effect.runPromise(benchHttpEffect()).then(
    (r) => {
      for (const [k, v] of Object.entries(r)) console.log(`${k.padEnd(60)} ${v}`)
      process.exit(0)
    },
    (e) => {
      console.error(e instanceof Error ? e.message : e)
      process.exit(1)
    }
  )
}

/**
 * `npm run bench -- http`: HTTP load on the API from a separate process (wrk), bounded in time,
 * on loopback only. The server is the real `serve` program in its own process, over the query
 * bench's table (`npm run bench -- query` builds it under .k2/bench/query-<K2_BENCH_TRADES>).
 * Measured: one symbol's 1-minute bars for a day and a page of 100 trades, as requests/s, p50,
 * p99, errors and the server's CPU per request:
 *
 * - the same URL again and again, at the latest snapshot (the catalog is read per request, the
 *   answer comes from the response cache) and at a fixed `snapshot_id`, without and with
 *   `Accept-Encoding: gzip` (what browsers, curl --compressed, Python requests and Go send);
 *   latest at several connection counts, so the latency/throughput curve shows;
 * - rotating over 100 symbols x 30 days (3,000 URLs, more than one run asks for): every request
 *   misses the cache and runs its query;
 * - a bare node:http server with a fixed 44 KB body under the same wrk settings: what the machine
 *   allows at that moment (on a shared machine, other jobs' load shows up in every row).
 *
 * wrk runs one thread, pinned to the last core with taskset when there is one (the server keeps
 * the other), with its default 2 s timeout (a timeout counts as an error). Two unmeasured seconds
 * on other URLs warm the server's code first, not the measured answers. Needs `wrk` (Debian:
 * apt-get install -y wrk). Env: K2_BENCH_HTTP_SECONDS (default 10) per run,
 * K2_BENCH_HTTP_CONNECTIONS (default 8,16,32) for the curve (the other runs use the middle one).
 */
import { execFile, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"
import { sha256Hex } from "../src/layers/http/config.ts"
import { benchCount, benchCounts } from "./settings.ts"

const KEY = "bench-key"
const START = Date.UTC(2024, 0, 1)
const day = (d: number) => new Date(START + d * 86_400_000).toISOString().slice(0, 10)
const sym = (s: number) => `S${String(s).padStart(3, "0")}`
const bars = (s: number, d: number) => `/v1/bars?symbols=${sym(s)}&from=${day(d)}&to=${day(d + 1)}&interval=1m`
const trades = (s: number, d: number) => `/v1/trades?symbols=${sym(s)}&from=${day(d)}&to=${day(d + 1)}&limit=100`

const run = (file: string, args: ReadonlyArray<string>) =>
  Effect.callback<string, Error>((resume) => {
    execFile(file, [...args], { timeout: 600_000 }, (error, stdout, stderr) => {
      if (error) resume(Effect.fail(new Error(`${file} failed: ${error.message} ${stderr}`)))
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
  requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN),
  rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
  p50: ms(/\s50%\s+(\S+)/.exec(out)?.[1]),
  p99: ms(/\s99%\s+(\S+)/.exec(out)?.[1]),
  errors: Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0) +
    (/Socket errors:.*?(\d+).*?(\d+).*?(\d+).*?(\d+)/.exec(out)?.slice(1).reduce((n, x) => n + Number(x), 0) ?? 0)
})

/** A wrk Lua script cycling through paths. */
const rotating = (dir: string, name: string, paths: ReadonlyArray<string>) => {
  const file = path.join(dir, `${name}.lua`)
  fs.writeFileSync(file, `local paths = {${paths.map((p) => JSON.stringify(p)).join(",")}}
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
`)
  return file
}

const freePort = Effect.callback<number>((resume) => {
  const probe = net.createServer()
  probe.listen(0, "127.0.0.1", () => {
    const { port } = probe.address() as net.AddressInfo
    probe.close(() => resume(Effect.succeed(port)))
  })
})

/** User plus system CPU seconds of a process so far (Linux /proc); NaN elsewhere. */
const cpuSeconds = (pid: number) => {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return NaN
  }
}

/** `npm run serve` on the bench table, until the scope closes. */
const serve = (warehouse: string, port: number) =>
  Effect.acquireRelease(
    Effect.sync(() =>
      spawn(process.execPath, [
        "--disable-warning=ExperimentalWarning",
        fileURLToPath(new URL("../src/programs/serve.ts", import.meta.url)),
        "--warehouse", warehouse, "--catalog", path.join(warehouse, "catalog.db"), "--catalog-name", "k2",
        "--port", String(port), "--host", "127.0.0.1"
      ], {
        env: { ...process.env, K2_API_KEYS: `bench:${sha256Hex(KEY)}:read`, K2_API_AUTH: "required", K2_API_RATE_LIMIT: "1000000000", K2_LOG_LEVEL: "warn" },
        stdio: ["ignore", "ignore", "inherit"]
      })
    ),
    (child) =>
      Effect.callback<void>((resume) => {
        if (child.exitCode !== null) return resume(Effect.void)
        child.once("exit", () => resume(Effect.void))
        child.kill("SIGTERM")
        // Bounded in time even if the server fails to drain.
        setTimeout(() => child.kill("SIGKILL"), 20_000).unref()
      })
  )

/** Polls `url` until it answers 2xx (true) or `alive` turns false or 60 s pass (false). */
const healthy = (url: string, alive: () => boolean) =>
  Effect.promise(async () => {
    for (let i = 0; i < 240 && alive(); i++) {
      if (await fetch(url).then((r) => r.ok, () => false)) return true
      await new Promise((r) => setTimeout(r, 250))
    }
    return false
  })

export const benchHttpEffect = (): Effect.Effect<Record<string, number | string>, unknown> =>
  Effect.scoped(Effect.gen(function*() {
    // `wrk --version` prints its version and exits 1.
    const hasWrk = yield* Effect.callback<boolean>((resume) => {
      execFile("wrk", ["--version"], (error, stdout) => resume(Effect.succeed(error === null || stdout.includes("wrk"))))
    })
    if (!hasWrk) return yield* Effect.fail(new Error("wrk is not installed: apt-get install -y wrk"))
    const total = benchCount("K2_BENCH_TRADES")
    const warehouse = path.resolve(".k2", "bench", `query-${total}`)
    if (!fs.existsSync(path.join(warehouse, "catalog.db"))) {
      return yield* Effect.fail(new Error(`no bench table at ${warehouse}: run npm run bench -- query first`))
    }
    const seconds = benchCount("K2_BENCH_HTTP_SECONDS")
    const curve = benchCounts("K2_BENCH_HTTP_CONNECTIONS")
    const connections = curve[Math.floor(curve.length / 2)]!
    const pin = os.availableParallelism() > 1 && (yield* run("taskset", ["-V"]).pipe(Effect.as(true), Effect.catch(() => Effect.succeed(false))))

    const port = yield* freePort
    const base = `http://127.0.0.1:${port}`
    const child = yield* serve(warehouse, port)
    if (!(yield* healthy(`${base}/ready`, () => child.exitCode === null))) {
      return yield* Effect.fail(new Error("the server did not become healthy within 60 s"))
    }
    const stats = yield* Effect.promise(() => fetch(`${base}/v1/stats/trades`, { headers: { "x-api-key": KEY } }).then((r) => r.json() as Promise<{ data: Array<{ snapshotId: string }> }>))
    const snapshot = stats.data[0]!.snapshotId

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-wrk-"))
    const out: Record<string, number | string> = {
      "table rows": total,
      "seconds per run; wrk": `${seconds}; -t1${pin ? `, pinned to core ${os.availableParallelism() - 1}` : ""}, loopback`,
      "load average at start (1/5/15 min)": os.loadavg().map((l) => l.toFixed(2)).join(" / ")
    }
    /** One wrk run, reported with the CPU the serving process spent per request. */
    const measure = Effect.fnUntraced(function*(name: string, pid: number, c: number, args: ReadonlyArray<string>) {
      const before = cpuSeconds(pid)
      const text = yield* run(pin ? "taskset" : "wrk", [
        ...(pin ? ["-c", String(os.availableParallelism() - 1), "wrk"] : []),
        "-t1", `-c${c}`, `-d${seconds}s`, "--latency", ...args
      ])
      const r = parse(text)
      const cpu = (cpuSeconds(pid) - before) * 1000 / r.requests
      out[`${name}, c=${c}`] = `${Math.round(r.rps)} req/s, p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, ${r.errors} errors, ` +
        `server ${cpu.toFixed(2)} ms CPU/req`
    })
    const api = (name: string, c: number, target: ReadonlyArray<string>, gzip = false) =>
      measure(name, child.pid!, c, ["-H", `X-API-Key: ${KEY}`, ...(gzip ? ["-H", "Accept-Encoding: gzip"] : []), ...target])
    // Unmeasured, on other URLs: the server's code is warm (JIT), the measured answers are not cached.
    yield* run("wrk", ["-t1", "-c4", "-d2s", "-H", `X-API-Key: ${KEY}`, `${base}${bars(1, 3)}`])
    yield* run("wrk", ["-t1", "-c4", "-d2s", "-H", `X-API-Key: ${KEY}`, `${base}${trades(1, 3)}`])
    const fixed = `&snapshot_id=${snapshot}`
    for (const gzip of [false, true]) {
      const enc = gzip ? ", gzip" : ""
      for (const c of curve) yield* api(`bars 1m one symbol-day, same URL, latest${enc}`, c, [`${base}${bars(7, 10)}`], gzip)
      for (const c of curve) yield* api(`trades page of 100, same URL, latest${enc}`, c, [`${base}${trades(7, 10)}`], gzip)
      yield* api(`bars 1m one symbol-day, same URL, snapshot_id${enc}`, connections, [`${base}${bars(7, 10)}${fixed}`], gzip)
      yield* api(`trades page of 100, same URL, snapshot_id${enc}`, connections, [`${base}${trades(7, 10)}${fixed}`], gzip)
    }
    const grid = (f: (s: number, d: number) => string) => Array.from({ length: 3000 }, (_, i) => f(i % 100, Math.floor(i / 100)))
    yield* api("bars 1m, rotating 3,000 URLs (uncached)", connections, ["-s", rotating(dir, "bars", grid(bars)), base])
    yield* api("trades page, rotating 3,000 URLs (uncached)", connections, ["-s", rotating(dir, "trades", grid(trades)), base])

    // What the machine allows right now: a bare node:http server answering a fixed body the size
    // of a trades page (on a shared machine, other jobs show up here as they do above).
    const barePort = yield* freePort
    const bare = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn(process.execPath, ["-e", `const body = Buffer.alloc(44000, 32)
require("node:http").createServer((_, res) => res.writeHead(200, { "content-type": "application/json", "content-length": body.length }).end(body)).listen(${barePort}, "127.0.0.1")`], { stdio: "ignore" })
      ),
      (process) => Effect.sync(() => process.kill())
    )
    if (!(yield* healthy(`http://127.0.0.1:${barePort}/`, () => bare.exitCode === null))) {
      return yield* Effect.fail(new Error("the bare node:http server did not start"))
    }
    yield* measure("calibration: bare node:http, fixed 44 KB body", bare.pid!, connections, [`http://127.0.0.1:${barePort}/`])
    out["load average at end (1/5/15 min)"] = os.loadavg().map((l) => l.toFixed(2)).join(" / ")
    return out
  }))

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

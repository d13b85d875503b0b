/**
 * `npm run query` and `npm run replay` as a user meets them: the warehouse from a flag as in the
 * other programs, a warehouse that is not there refused without making one, a request the engine
 * refuses is a usage error (exit 2), and an empty answer still names its columns.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { tables } from "../../src/domain/tables.ts"
import * as Lakehouse from "../../src/layers/lakehouse.ts"
import { spawnProgram } from "../support/programs.ts"
import { tempWarehouse, tradesWarehouse, warehouseOptions } from "../support/warehouse.ts"


/** Its exit code, its output (the last 20k characters) and how many lines it wrote to stdout. */
const run = (program: "query" | "replay", args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const p = spawnProgram(program, args, env)
    let lines = 0
    p.child.stdout!.on("data", (d: Buffer) => {
      for (const byte of d) if (byte === 10) lines++
    })
    const code = yield* Effect.promise(() => p.exited)
    return { code, output: p.output(), lines }
  })

const day = ["--from", "2024-01-02", "--to", "2024-01-03"]

describe.concurrent("npm run query and replay, the warehouse", () => {
  it.effect("--warehouse names it, as in ingest, serve and compact", () =>
    Effect.gen(function*() {
      const dir = yield* tradesWarehouse()
      const stats = yield* run("query", ["stats", "trades", "--warehouse", dir, "-o", "json"])
      assert.strictEqual(stats.code, 0, stats.output)
      assert.include(stats.output, `"records": 100`)
      const replay = yield* run("replay", [...day, "--tables", "trades", "--warehouse", dir])
      assert.strictEqual(replay.code, 0, replay.output)
      assert.strictEqual(replay.lines, 100)
    }), 60_000)

  it.effect("one that does not exist is refused, and not made", () =>
    Effect.gen(function*() {
      const missing = path.join(tempWarehouse(), "typo")
      for (const [program, args] of [["query", ["stats", "trades"]], ["replay", day]] as const) {
        const r = yield* run(program, args, { K2_WAREHOUSE: missing })
        assert.strictEqual(r.code, 1, r.output)
        assert.include(r.output, `no warehouse at ${missing}`)
        assert.notInclude(r.output, "    at ", "no stack trace")
        assert.isFalse(fs.existsSync(missing), `${program} made ${missing}`)
      }
    }), 60_000)
})

describe.concurrent("npm run query, trading days", () => {
  it.effect("summary reads an exchange's days in the zone K2_SEQUENCE_ZONES gives it, as ingest's trackers do", () =>
    Effect.gen(function*() {
      const dir = yield* tradesWarehouse()
      const days = (env: Record<string, string>) =>
        Effect.gen(function*() {
          const r = yield* run("query", ["summary", "--from-day", "2023-12-31", "--to-day", "2024-01-05", "-o", "json"], { K2_WAREHOUSE: dir, ...env })
          assert.strictEqual(r.code, 0, r.output)
          const { rows } = JSON.parse(r.output.slice(r.output.indexOf("{"), r.output.lastIndexOf("}") + 1)) as { rows: Array<{ tradingDay: string; tradeCount: number }> }
          const byDay = new Map<string, number>()
          for (const row of rows) byDay.set(row.tradingDay, (byDay.get(row.tradingDay) ?? 0) + row.tradeCount)
          return [...byDay].sort()
        })
      // The trades span 2024-01-02 UTC: 11:00 on the 2nd to 11:00 on the 3rd in Sydney, the 1st to the 2nd at -11.
      const sydney = yield* days({})
      const pagoPago = yield* days({ K2_SEQUENCE_ZONES: "ASX=Pacific/Pago_Pago" })
      assert.deepStrictEqual(sydney.map(([d]) => d), ["2024-01-02", "2024-01-03"])
      assert.deepStrictEqual(pagoPago.map(([d]) => d), ["2024-01-01", "2024-01-02"])
      const bad = yield* run("query", ["summary", "--from-day", "2024-01-02"], { K2_WAREHOUSE: dir, K2_SEQUENCE_ZONES: "ASX=Mars/Olympus" })
      assert.strictEqual(bad.code, 2, bad.output)
      assert.include(bad.output, "K2_SEQUENCE_ZONES")
    }), 60_000)
})

describe.concurrent("npm run query, the catalog", () => {
  it.effect("a URL of a scheme that names no catalog is a usage error, not a SQLite file of that name", () =>
    Effect.gen(function*() {
      const dir = yield* tradesWarehouse()
      for (const catalog of ["postgress://db/k2", "HTTP://127.0.0.1:8181"]) {
        const r = yield* run("query", ["stats", "trades", "--warehouse", dir, "--catalog", catalog])
        assert.strictEqual(r.code, 2, `${catalog}: ${r.output}`)
        assert.include(r.output, "Invalid value for flag --catalog")
        const env = yield* run("query", ["stats", "trades", "--warehouse", dir], { K2_CATALOG: catalog })
        assert.strictEqual(env.code, 2, `K2_CATALOG=${catalog}: ${env.output}`)
      }
    }), 60_000)
})

describe.concurrent("npm run query and replay, refused requests", () => {
  it.effect("query without a subcommand is a usage error (it printed the help and exited 0), --help is not", () =>
    Effect.gen(function*() {
      const none = yield* run("query", [])
      assert.strictEqual(none.code, 2, none.output)
      assert.include(none.output, "trades, quotes, bars, summary, symbols, snapshots or stats")
      assert.notInclude(none.output, "    at ", "no stack trace")
      const help = yield* run("query", ["--help"])
      assert.strictEqual(help.code, 0, help.output)
    }), 60_000)

  it.effect("a refused request (by the flags' parsers or the engine) is a usage error: its message and exit 2, no stack trace", () =>
    Effect.gen(function*() {
      const dir = yield* tradesWarehouse()
      const env = { K2_WAREHOUSE: dir }
      const cases = [
        ["query", ["trades", "--from", "2024-01-03", "--to", "2024-01-02"], "inverted range"],
        ["query", ["trades", ...day, "--limit", "0"], "--limit"],
        ["query", ["trades", ...day, "-s", "b h p"], `--symbols: "b h p" is not 1-32 of A-Z 0-9 . _ -`],
        // An unset variable is not every symbol.
        ["query", ["bars", ...day, "-s", ""], `--symbols: "" names no symbol: leave symbols out for every symbol`],
        ["replay", [...day, "--symbols", " "], `--symbols: " " names no symbol`],
        // Every subcommand alike (summary and symbols threw it inside their Effect: a defect, exit 1).
        ["query", ["summary", "--from-day", "2024-01-02", "-s", ""], `--symbols: "" names no symbol`],
        ["query", ["symbols", "-s", "b h p"], `--symbols: "b h p" is not 1-32 of A-Z 0-9 . _ -`],
        // Lists naming none are not all columns or tables.
        ["query", ["trades", ...day, "--fields", ","], `--fields: "," names no column: leave fields out for every column`],
        ["query", ["quotes", ...day, "--fields", ""], `--fields: "" names no column`],
        ["replay", [...day, "--tables", " , "], `--tables: " , " names no table: leave tables out for trades,quotes`],
        ["query", ["summary", "--from-day", "2024-1-2"], "--from-day: \"2024-1-2\" is not a date"],
        // A filter without a bound would filter nothing: as the HTTP API, it is refused.
        ["query", ["trades", ...day, "--filter", "price:"], "--filter"],
        ["query", ["trades", ...day, "--filter", "price::"], "--filter"],
        ["replay", ["--from", "2024-01-03", "--to", "2024-01-02"], "inverted range"],
        ["replay", [...day, "--window-rows", "5"], "--window-rows"],
        ["replay", [...day, "--speed", "0"], "--speed"],
        ["replay", [...day, "--topic", "backtest", "--brokers", ""], "--brokers"],
        // An instruments topic is a source topic too: compacted by symbol, its instruments would go.
        ["replay", [...day, "--topic", "reference.instruments.asx", "--brokers", "127.0.0.1:1"], "is a source topic"],
        // Kafka takes '.' and '_' alike: the broker would keep only one of it and market.equities.trades.asx.
        ["replay", [...day, "--topic", "market_equities_trades_asx", "--brokers", "127.0.0.1:1"], "collides with market.equities.trades.asx"],
        // A blank group names no marker: nothing to continue from.
        ["replay", ["--from", "2024-01-02", "--follow", "--brokers", "127.0.0.1:1", "--group", " "], "consumer group"],
        // The registry's subjects are named by --topics, not by the markers' topics.
        ["replay", ["--from", "2024-01-02", "--follow", "--brokers", "127.0.0.1:1", "--schema-registry", "http://127.0.0.1:1"], "--schema-registry needs a trades and a quotes topic"]
      ] as const
      yield* Effect.forEach(cases, ([program, args, says]) =>
        Effect.gen(function*() {
          const r = yield* run(program, args, env)
          assert.strictEqual(r.code, 2, `${program} ${args.join(" ")}: ${r.output}`)
          assert.include(r.output, says)
          assert.notInclude(r.output, "    at ", "no stack trace")
        }), { concurrency: 3, discard: true })
    }), 120_000)

  it.effect("an instant in epoch seconds or milliseconds is refused, not read as 1970", () =>
    Effect.gen(function*() {
      const dir = yield* tradesWarehouse()
      for (const from of ["1704153600", "1704153600000"]) {
        const r = yield* run("query", ["trades", "--from", from, "--to", "2024-01-03"], { K2_WAREHOUSE: dir })
        assert.strictEqual(r.code, 2, r.output)
        assert.include(r.output, "epoch microseconds")
      }
      const micros = yield* run("query", ["trades", "--from", "1704153600000000", "--to", "2024-01-03", "-o", "csv"], { K2_WAREHOUSE: dir })
      assert.strictEqual(micros.code, 0, micros.output)
      assert.strictEqual(micros.lines, 101)
    }), 60_000)
})

describe.concurrent("npm run query, an empty answer", () => {
  it.effect("CSV and the table still have their header", () =>
    Effect.gen(function*() {
      const dir = yield* tradesWarehouse()
      const env = { K2_WAREHOUSE: dir }
      const firstLine = (out: string) => out.split("\n")[0]
      const trades = yield* run("query", ["trades", ...day, "-s", "NOPE", "-o", "csv", "--fields", "symbol,price"], env)
      assert.strictEqual(trades.code, 0, trades.output)
      assert.strictEqual(firstLine(trades.output), "symbol,price")
      const all = yield* run("query", ["trades", ...day, "-s", "NOPE", "-o", "csv"], env)
      assert.strictEqual(firstLine(all.output), tables.trades.schema.fields.map((f) => f.name).join(","))
      const bars = yield* run("query", ["bars", ...day, "-s", "NOPE", "-o", "csv"], env)
      assert.strictEqual(firstLine(bars.output), "symbol,exchange,bucket,open,high,low,close,volume,tradeCount,vwap")
      const table = yield* run("query", ["bars", ...day, "-s", "NOPE", "--quotes"], env)
      assert.match(firstLine(table.output)!, /^symbol\s+exchange\s+bucket\s+quoteCount\s+midOpen/)
    }), 60_000)
})

describe.concurrent("npm run query, a large answer", () => {
  it.effect("an aligned table of 150k bars prints (its widths once overflowed the stack)", () =>
    Effect.gen(function*() {
      const dir = yield* tradesWarehouse(150_000)
      const r = yield* run("query", ["bars", ...day, "--interval", "1s", "--warehouse", dir])
      assert.strictEqual(r.code, 0, r.output)
      assert.isAbove(r.lines, 130_000)
    }), 120_000)
})

describe.concurrent("npm run query, a warehouse nothing was ingested into yet", () => {
  it.effect("symbols and snapshots answer empty, as GET /v1/symbols and /v1/snapshots do; the others say no such table", () =>
    Effect.gen(function*() {
      const dir = tempWarehouse()
      // The catalog exists (serve or an ingest that never committed made it); no table does.
      yield* Effect.provide(Effect.void, Lakehouse.layer(warehouseOptions("sqlite", dir)))
      const env = { K2_WAREHOUSE: dir }
      const symbols = yield* run("query", ["symbols", "-o", "csv"], env)
      assert.strictEqual(symbols.code, 0, symbols.output)
      assert.strictEqual(symbols.lines, 1, symbols.output)
      assert.include(symbols.output, "symbol,trades,first_trade")
      assert.include(symbols.output, "market_data.trades, market_data.quotes: not created yet: nothing ingested")
      const json = yield* run("query", ["symbols", "-o", "json"], env)
      assert.strictEqual(json.code, 0, json.output)
      assert.include(json.output, `"rows": []`)
      const snapshots = yield* run("query", ["snapshots", "quotes", "-o", "csv"], env)
      assert.strictEqual(snapshots.code, 0, snapshots.output)
      assert.strictEqual(snapshots.lines, 1, snapshots.output)
      // As the API's 404 table_not_found: one line, exit 1.
      const stats = yield* run("query", ["stats", "trades"], env)
      assert.strictEqual(stats.code, 1, stats.output)
      assert.include(stats.output, "no such table: market_data.trades")
      assert.notInclude(stats.output, "    at ", "no stack trace")
      // A snapshot asked for that no table has is not an empty answer.
      const pinned = yield* run("query", ["symbols", "--snapshot-id", "42"], env)
      assert.strictEqual(pinned.code, 1, pinned.output)
      assert.include(pinned.output, "no such snapshot")
    }), 60_000)
})

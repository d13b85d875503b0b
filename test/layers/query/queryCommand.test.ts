/**
 * `npm run query` in-process, over the in-memory catalog (test/programs/query-usage.test.ts runs the
 * program itself): tables ingest has not created yet answer as the HTTP API does, `symbols` and
 * `snapshots` empty with a note on stderr, the other reads `no such table` (the API's 404); a table
 * with data is read.
 */
import * as NodeServices from "@effect/platform-node/NodeServices"
import { assert, describe, it } from "@effect/vitest"
import { BigDecimal, Context, Deferred, Effect, Exit, Fiber, Layer, Option } from "effect"
import { Command } from "effect/cli"
import { vi } from "vitest"
import { tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import * as Lakehouse from "../../../src/layers/lakehouse.ts"
import * as QueryLayer from "../../../src/layers/query/engine.ts"
import { printRows } from "../../../src/programs/cli/common.ts"
import { DrainRecord, drainRecord, failedDrainOf, programExitCode } from "../../../src/programs/cli/run.ts"
import { answering, queryCommand } from "../../../src/programs/query.ts"
import { Catalog, CatalogError } from "../../../src/services/Catalog.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { QueryEngine } from "../../../src/services/QueryEngine.ts"
import { tempDir } from "../../support/tempDir.ts"
import { lakehouseRefusingLoads } from "../../support/warehouse.ts"
import { genTrades } from "./data.ts"
import { TRADES } from "./fixture.ts"
import { runQuery } from "./queryRun.ts"

/** The engine over an empty in-memory catalog, data files in `dir`. */
const memoryWarehouse = (dir: string) =>
  QueryLayer.layer().pipe(Layer.provideMerge(Lakehouse.layer({ warehouse: dir, catalog: { _tag: "memory" } })))


/** A positive decimal(18,8) as the CLI prints it: all 8 places. */
const decimal8 = (d: BigDecimal.BigDecimal) => {
  const digits = BigDecimal.scale(d, 8).value.toString().padStart(9, "0")
  return `${digits.slice(0, -8)}.${digits.slice(-8)}`
}

/** The CatalogError the run failed with, if it failed with one. */
const failure = (exit: Exit.Exit<void, unknown>) => {
  const error = Exit.isFailure(exit) ? exit.cause.reasons.find((reason) => reason._tag === "Fail")?.error : undefined
  return error instanceof CatalogError ? error : undefined
}

const day = ["--from", "2024-01-02", "--to", "2024-01-05"]

describe("npm run query, in-process", () => {
  it.effect("tables not created yet: symbols and snapshots answer empty, naming them on stderr", () =>
    Effect.gen(function*() {
      const reads = memoryWarehouse(yield* tempDir("k2-query-command-"))
      const csv = yield* runQuery(reads, ["symbols", "-o", "csv"])
      assert.isTrue(Exit.isSuccess(csv.exit), String(csv.exit))
      assert.strictEqual(csv.stdout, "symbol,trades,first_trade,last_trade,quotes,first_quote,last_quote\n")
      assert.include(csv.stderr, "market_data.trades, market_data.quotes: not created yet: nothing ingested")
      const json = yield* runQuery(reads, ["symbols", "-o", "json"])
      assert.isTrue(Exit.isSuccess(json.exit), String(json.exit))
      assert.deepStrictEqual(JSON.parse(json.stdout).rows, [])
      const snapshots = yield* runQuery(reads, ["snapshots", "quotes", "-o", "csv"])
      assert.isTrue(Exit.isSuccess(snapshots.exit), String(snapshots.exit))
      assert.strictEqual(snapshots.stdout, "snapshot_id,parent_id,time,operation,current,records,files,summary\n")
      assert.include(snapshots.stderr, "market_data.quotes: not created yet: nothing ingested")
    }))

  it.effect("tables not created yet: the other reads fail with `no such table`, printing nothing", () =>
    Effect.gen(function*() {
      const reads = memoryWarehouse(yield* tempDir("k2-query-command-"))
      for (const args of [["stats", "trades"], ["trades", ...day], ["quotes", ...day], ["bars", ...day, "--quotes"], ["summary", "--from-day", "2024-01-02"]]) {
        const r = yield* runQuery(reads, args)
        assert.isTrue(Exit.isFailure(r.exit), `${args.join(" ")}: ${r.stdout}`)
        const error = failure(r.exit)
        assert.strictEqual(error?.reason._tag, "NoSuchTable", `${args.join(" ")}: ${String(r.exit)}`)
        // What the program prints after `error: `.
        assert.strictEqual(error?.message, `no such table: market_data.${args.includes("--quotes") || args[0] === "quotes" ? "quotes" : "trades"}`)
        assert.strictEqual(r.stdout, "", args.join(" "))
      }
    }))

  it.effect("summary: a day that is not a date is a usage error naming its flag, with the API's reason, before any table is read", () =>
    Effect.gen(function*() {
      const reads = memoryWarehouse(yield* tempDir("k2-query-command-"))
      for (
        const [args, message] of [
          [["--from-day", "2024-01-0x"], `--from-day: "2024-01-0x" is not a date yyyy-mm-dd (years 1900-2199)`],
          [["--from-day", "1899-12-31"], `--from-day: "1899-12-31" is not a date yyyy-mm-dd (years 1900-2199)`],
          [["--from-day", "2024-01-02", "--to-day", "2024-02-30"], `--to-day: "2024-02-30" is not a date yyyy-mm-dd (years 1900-2199)`]
        ] as const
      ) {
        const r = yield* runQuery(reads, ["summary", ...args])
        const error = Exit.isFailure(r.exit) ? r.exit.cause.reasons.find((reason) => reason._tag === "Fail")?.error : undefined
        // GET /v1/summary says `from_day: ...` (400); the engine's own name (fromDay) is no flag's.
        assert.strictEqual((error as { _tag?: string } | undefined)?._tag, "UsageError", `${args.join(" ")}: ${String(r.exit)}`)
        assert.strictEqual((error as { message?: string }).message, message)
        assert.strictEqual(programExitCode(r.exit, drainRecord()), 2)
      }
    }))

  it.effect("a catalog that refuses reads: symbols and snapshots fail too, not answer as if nothing were ingested", () =>
    Effect.gen(function*() {
      const { lakehouse, refuse } = yield* lakehouseRefusingLoads({ warehouse: yield* tempDir("k2-query-command-"), catalog: { _tag: "memory" } })
      refuse(true)
      const reads = QueryLayer.layer().pipe(Layer.provideMerge(lakehouse))
      for (const args of [["symbols"], ["snapshots", "trades"]]) {
        const r = yield* runQuery(reads, args)
        assert.strictEqual(failure(r.exit)?.reason._tag, "CatalogRejected", `${args.join(" ")}: ${String(r.exit)}`)
        assert.strictEqual(r.stdout, "", args.join(" "))
        assert.notInclude(r.stderr, "not created yet", args.join(" "))
      }
    }))

  it.effect("one table not created yet: symbols names that one only", () =>
    Effect.gen(function*() {
      const context = yield* Layer.build(memoryWarehouse(yield* tempDir("k2-query-command-")))
      yield* Effect.gen(function*() {
        yield* (yield* IcebergSink).ensureTable(tables.trades)
      }).pipe(Effect.provideContext(context))
      const reads = Layer.succeedContext(context)
      const r = yield* runQuery(reads, ["symbols", "-o", "csv"])
      assert.isTrue(Exit.isSuccess(r.exit), String(r.exit))
      // The note names quotes alone (the scan report after it names both tables).
      assert.strictEqual(r.stderr.split("\n")[0], "market_data.quotes: not created yet: nothing ingested")
    }))

  it.effect("tables with data, quotes still empty: trades and symbols read them", () =>
    Effect.gen(function*() {
      const context = yield* Layer.build(memoryWarehouse(yield* tempDir("k2-query-command-")))
      const trades = genTrades(200, { seed: 5 })
      yield* Effect.gen(function*() {
        const sink = yield* IcebergSink
        yield* sink.ensureTable(tables.trades)
        yield* sink.ensureTable(tables.quotes)
        yield* sink.append(TRADES, tradeColumns(trades))
      }).pipe(Effect.provideContext(context))
      const reads = Layer.succeedContext(context)

      const rows = yield* runQuery(reads, ["trades", ...day, "--symbols", "BHP", "--fields", "trade_id,price", "-o", "csv"])
      assert.isTrue(Exit.isSuccess(rows.exit), String(rows.exit))
      const [header, ...lines] = rows.stdout.trimEnd().split("\n")
      assert.strictEqual(header, "trade_id,price")
      const bhp = trades.filter((t) => t.symbol === "BHP")
      assert.isAbove(bhp.length, 0)
      assert.deepStrictEqual(lines.sort(), bhp.map((t) => `${t.trade_id},${decimal8(t.price)}`).sort())

      const symbols = yield* runQuery(reads, ["symbols", "-o", "json"])
      assert.isTrue(Exit.isSuccess(symbols.exit), String(symbols.exit))
      // Quotes exist without a snapshot: counted 0, and not said to be missing.
      assert.notInclude(symbols.stderr, "not created yet")
      const counts = (JSON.parse(symbols.stdout).rows as Array<{ symbol: string; trades: number; quotes: number }>)
        .map((r) => [r.symbol, r.trades, r.quotes])
      const expected = [...new Set(trades.map((t) => t.symbol))].sort()
        .map((s) => [s, trades.filter((t) => t.symbol === s).length, 0])
      assert.deepStrictEqual(counts, expected)

      // --cursor pages the query that gave it, as the API's cursor does: another's is refused, naming what differs.
      const page = (symbols: string, limit: string) => ["trades", ...day, "--symbols", symbols, "--limit", limit, "-o", "json"]
      const firstPage = yield* runQuery(reads, page("BHP", "2"))
      const cursor = JSON.parse(firstPage.stdout).nextCursor as string
      assert.isString(cursor)
      const other = yield* runQuery(reads, [...page("BHP,CBA", "2"), "--cursor", cursor])
      assert.isTrue(Exit.isFailure(other.exit), other.stdout)
      const refused = Exit.isFailure(other.exit) ? other.exit.cause.reasons.find((reason) => reason._tag === "Fail")?.error : undefined
      assert.include(String((refused as { message?: string } | undefined)?.message), "symbols differs")
      assert.strictEqual(other.stdout, "")
      // Refused naming the flag, as every other refused value is (it said `invalid cursor: ...`): an empty one too (an unset variable).
      for (const [given, says] of [[cursor, "--cursor: "], ["", `--cursor: not base64url text`], ["garbage", "--cursor: not a K2 cursor"]] as const) {
        const r = yield* runQuery(reads, [...page(given === cursor ? "BHP,CBA" : "BHP", "2"), "--cursor", given])
        const error = Exit.isFailure(r.exit) ? r.exit.cause.reasons.find((reason) => reason._tag === "Fail")?.error : undefined
        assert.strictEqual((error as { _tag?: string } | undefined)?._tag, "UsageError", `--cursor ${given}: ${String(r.exit)}`)
        assert.isTrue(String((error as { message?: string }).message).startsWith(says), String((error as { message?: string }).message))
        assert.strictEqual(programExitCode(r.exit, drainRecord()), 2)
        assert.strictEqual(r.stdout, "")
      }
      const nextPage = yield* runQuery(reads, [...page("BHP", "3"), "--cursor", cursor])
      assert.isTrue(Exit.isSuccess(nextPage.exit), String(nextPage.exit))

      // --as-of with --cursor: an instant before the cursor's snapshot (committed at 0 on the test
      // clock) is refused naming both, not read from the cursor's; one at which trades were the
      // cursor's snapshot is its next page.
      const before = yield* runQuery(reads, [...page("BHP", "2"), "--cursor", cursor, "--as-of", "1969-12-31T23:59:59Z"])
      assert.isTrue(Exit.isFailure(before.exit), before.stdout)
      const mismatch = Exit.isFailure(before.exit) ? before.exit.cause.reasons.find((reason) => reason._tag === "Fail")?.error : undefined
      assert.match(String((mismatch as { message?: string } | undefined)?.message), /it reads snapshot \d+, as of 1969-12-31T23:59:59.000Z it had none/)
      assert.strictEqual(before.stdout, "")
      const asOfNow = yield* runQuery(reads, [...page("BHP", "3"), "--cursor", cursor, "--as-of", new Date().toISOString()])
      assert.isTrue(Exit.isSuccess(asOfNow.exit), String(asOfNow.exit))
      assert.strictEqual(asOfNow.stdout, nextPage.stdout)

      // Pinned as asked: a snapshot neither table has is not found, not read as the latest.
      const pinned = yield* runQuery(reads, ["symbols", "--snapshot-id", "999", "-o", "json"])
      assert.isTrue(Exit.isFailure(pinned.exit), pinned.stdout)
      assert.strictEqual(pinned.stdout, "")
    }))

  it.effect("snapshots: a commit time written as every other instant is, and as GET /v1/snapshots writes it (µs)", () =>
    Effect.gen(function*() {
      const context = yield* Layer.build(memoryWarehouse(yield* tempDir("k2-query-command-")))
      yield* Effect.gen(function*() {
        const sink = yield* IcebergSink
        yield* sink.ensureTable(tables.trades)
        yield* sink.append(TRADES, tradeColumns(genTrades(5, { seed: 6 })))
      }).pipe(Effect.provideContext(context))
      const r = yield* runQuery(Layer.succeedContext(context), ["snapshots", "trades", "-o", "json"])
      assert.isTrue(Exit.isSuccess(r.exit), String(r.exit))
      const rows = JSON.parse(r.stdout).rows as Array<{ time: string }>
      assert.isAbove(rows.length, 0)
      for (const row of rows) assert.match(row.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/)
    }))

  // Ctrl-C, or a job runner's SIGTERM on its timeout (run.ts: the signal interrupts the command).
  describe("stopped by a signal before its answer is out", () => {
    /**
     * The command forked as `npm run query -- args` runs it, stdout and stderr swallowed; `write` says
     * whether stdout takes more. With the run's drain record, as the runner reads it for the exit code.
     */
    const forked = (reads: Layer.Layer<QueryEngine | Catalog, unknown>, args: ReadonlyArray<string>, write: (text: string) => boolean) =>
      Effect.gen(function*() {
        const record = drainRecord()
        const spies = [
          vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => write(String(chunk))),
          vi.spyOn(process.stderr, "write").mockImplementation(() => true)
        ]
        const fiber = yield* Command.runWith(queryCommand(() => reads), { version: "0" })(args).pipe(
          Effect.provide(NodeServices.layer),
          Effect.provideService(DrainRecord, record),
          Effect.ensuring(Effect.sync(() => spies.forEach((spy) => spy.mockRestore()))),
          Effect.forkChild
        )
        return { fiber, record }
      })

    const STOPPED = "query stopped before its answer was written out"

    it.effect("while the catalog and DuckDB are still opening: nothing on stdout, exit 1 saying so (not 0 without a word)", () =>
      Effect.gen(function*() {
        const opening = yield* Deferred.make<void>()
        // Opening that does not finish (a catalog that does not answer, DuckDB starting up).
        const reads = Layer.effectContext(Effect.andThen(Deferred.succeed(opening, undefined), Effect.never)) as Layer.Layer<QueryEngine | Catalog>
        let stdout = ""
        const { fiber, record } = yield* forked(reads, ["trades", ...day, "-o", "csv"], (text) => {
          stdout += text
          return true
        })
        yield* Deferred.await(opening)
        yield* Fiber.interrupt(fiber)
        const exit = yield* Fiber.await(fiber)
        assert.strictEqual(programExitCode(exit, record), 1, String(exit))
        const failed = failedDrainOf(exit, record)
        assert.include(String(Option.isSome(failed) ? (failed.value as { message?: string }).message : undefined), "while the catalog and DuckDB were opening")
        assert.strictEqual(stdout, "")
      }))

    it.effect("while it reads: nothing on stdout, exit 1 saying so (not 0, which a script takes for the answer)", () =>
      Effect.gen(function*() {
        const context = yield* Layer.build(memoryWarehouse(yield* tempDir("k2-query-command-")))
        const reading = yield* Deferred.make<void>()
        const engine = Context.get(context, QueryEngine)
        // A read that does not answer (a slow scan, a catalog that hangs).
        const reads = Layer.succeedContext(Context.add(context, QueryEngine, { ...engine, trades: () => Effect.andThen(Deferred.succeed(reading, undefined), Effect.never) }))
        let stdout = ""
        const { fiber, record } = yield* forked(reads, ["trades", ...day, "-o", "csv"], (text) => {
          stdout += text
          return true
        })
        yield* Deferred.await(reading)
        yield* Fiber.interrupt(fiber)
        const exit = yield* Fiber.await(fiber)
        // The CLI passes on only the interruption; the runner reports the drain's failure (run.ts).
        assert.strictEqual(programExitCode(exit, record), 1, String(exit))
        const failed = failedDrainOf(exit, record)
        assert.include(String(Option.isSome(failed) ? (failed.value as { message?: string }).message : undefined), STOPPED)
        assert.strictEqual(stdout, "")
      }))

    it.effect("once the whole answer is handed to stdout, a pipe's reader not having taken it yet: stopped then, it does not fail (run.ts delivers it before exiting)", () =>
      Effect.gen(function*() {
        const written = yield* Deferred.make<void>()
        let stdout = ""
        // stdout full: the answer waits in this process for its reader; run.ts's exit waits for it to go (afterWritten).
        const spy = vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
          stdout += String(chunk)
          // The signal comes after the write, as a signal can (not within it).
          setImmediate(() => Deferred.doneUnsafe(written, Exit.void))
          return false
        })
        const record = drainRecord()
        const print = printRows([{ symbol: "BHP" }], ["symbol"], "csv").pipe(
          answering,
          Effect.provideService(DrainRecord, record),
          Effect.ensuring(Effect.sync(() => spy.mockRestore()))
        )
        const full = yield* Effect.forkChild(print)
        yield* Deferred.await(written)
        yield* Fiber.interrupt(full)
        const exit = yield* Fiber.await(full)
        // It said `stdout holds none of it, or only a part` and exited 1, the whole answer reaching its reader.
        assert.strictEqual(stdout, "symbol\nBHP\n")
        assert.isTrue(Option.isNone(failedDrainOf(exit, record)), String(record.failure))
        assert.strictEqual(programExitCode(exit, record), 0, String(exit))
      }))
  })
})

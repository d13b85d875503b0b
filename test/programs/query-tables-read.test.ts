/**
 * `npm run query` opened every table's metadata at start to check the warehouse had not moved
 * (ADR-32): a one-day read of trades parsed quotes' too, 23 s on a day of one-second snapshots for a
 * read of 185 ms. A command checks, and reads, the tables it reads; a moved one is still refused.
 */
import * as fs from "node:fs"
import fsp from "node:fs/promises"
import { syncBuiltinESMExports } from "node:module"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { vi } from "vitest"
import { engine } from "../../src/programs/query.ts"
import { runQuery } from "../layers/query/queryRun.ts"
import { tradesWarehouse } from "../support/warehouse.ts"

/** `npm run query -- args` over the warehouse `dir`, and the metadata files it read. */
const queryReading = (dir: string, args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const read: Array<string> = []
    const original = fsp.readFile
    const spy = vi.spyOn(fsp, "readFile").mockImplementation(((file: string, ...rest: Array<never>) => {
      if (String(file).endsWith(".metadata.json")) read.push(String(file))
      return (original as (...a: Array<unknown>) => unknown)(file, ...rest)
    }) as typeof fsp.readFile)
    // The FileIO layer imports node:fs/promises as a namespace: its bindings follow the module object only when synced.
    syncBuiltinESMExports()
    const answer = yield* runQuery(engine, [...args, "--warehouse", dir]).pipe(
      Effect.ensuring(Effect.sync(() => {
        spy.mockRestore()
        syncBuiltinESMExports()
      }))
    )
    return { ...answer, read: read.map((f) => path.relative(dir, f).split(path.sep).slice(0, 2).join("/")) }
  })

describe("npm run query, the tables it opens", () => {
  it.effect("a one-table command reads that table's metadata file alone (quotes' is not parsed for a read of trades)", () =>
    Effect.gen(function*() {
      const dir = yield* tradesWarehouse()
      const trades = yield* queryReading(dir, ["stats", "trades", "-o", "json"])
      assert.isTrue(Exit.isSuccess(trades.exit), trades.stderr)
      assert.include(trades.stdout, `"records": 100`)
      assert.deepStrictEqual([...new Set(trades.read)], ["market_data/trades"])
      const day = ["--symbols", "BHP", "--from", "2024-01-02", "--to", "2024-01-03"]
      for (const [args, read] of [
        [["trades", ...day], "market_data/trades"],
        [["bars", ...day], "market_data/trades"],
        [["bars", ...day, "--quotes"], "market_data/quotes"],
        [["summary", "--from-day", "2024-01-02"], "market_data/trades"],
        [["snapshots", "quotes"], "market_data/quotes"]
      ] as const) {
        const answer = yield* queryReading(dir, args)
        assert.isTrue(Exit.isSuccess(answer.exit), `${args.join(" ")}: ${answer.stderr}`)
        assert.deepStrictEqual([...new Set(answer.read)], [read], args.join(" "))
      }
    }), 60_000)

  it.effect("a copied warehouse is still refused before the table a command reads is read", () =>
    Effect.gen(function*() {
      const original = yield* tradesWarehouse()
      const copy = `${original}-copy`
      fs.cpSync(original, copy, { recursive: true })
      for (const args of [["stats", "trades"], ["snapshots", "quotes"], ["symbols"]]) {
        const refused = yield* queryReading(copy, args)
        assert.isTrue(Exit.isFailure(refused.exit), args.join(" "))
        assert.include(String(Exit.isFailure(refused.exit) ? refused.exit.cause : ""), "was copied or moved", args.join(" "))
      }
    }), 60_000)
})

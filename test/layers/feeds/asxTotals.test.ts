/**
 * The ASX summary's totals reconcile. `rowsRead` counted data rows only, while `deadLettered` also
 * counted bad company_info rows and files rejected whole, so `rowsRead = trades + quotes +
 * deadLettered` did not hold (26 read, 14 + 5 + 9 = 28 on the fixture) and nothing said what the
 * difference was. Each dead letter is now counted by what it is: a data row, a company_info row, or a
 * file (or directory) not read.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import type { DeadLetter } from "../../../src/domain/feeds/events.ts"
import { layerAsx } from "../../../src/layers/feeds/asx.ts"
import { MarketFeed } from "../../../src/services/MarketFeed.ts"

const HEADER = "company_id,symbol,company_name,ISIN,start_date,end_date"
const ROW = "03/10/2014,10:05:44.516,37.51,40000,0,,"
const QUOTE = "03/10/2014,10:05:44.516,37.50,37.52,100,200"
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "k2-asx-totals-"))
const dir = path.join(tmp, "load")
const deadLetterFile = path.join(tmp, "dead-letters.jsonl")

const files: Record<string, string | Uint8Array> = {
  // Bad company_info rows: a bad symbol (1002, whose files are then rejected), a duplicate company id.
  "reference-data/company_info.csv": `${HEADER}\n1001,BHP,BHP,,,\n1002,b h p,Bad,,,\n1001,BHP,Again,,,\n1003,CBA,CBA,,,\n`,
  // Bad data rows: a wrong column count, an overlong line, invalid UTF-8, a negative price.
  "trades/1001.csv": Buffer.concat([
    Buffer.from(`${ROW}\n1,2,3\n${ROW}${"x".repeat(300)}\n${ROW}\n`),
    Buffer.from("03/10/2014,10:05:44.516,37.51,40000,0,\xff\xfe,\n", "latin1"),
    Buffer.from("03/10/2014,10:05:44.516,-37.51,40000,0,,\n")
  ]),
  "quotes/1001.csv": `${QUOTE}\n${QUOTE},1\n`,
  "trades/1003.csv": `${ROW}\n`,
  // Files not read: a rejected company's, an unknown company's, a second file for one id, a UTF-16
  // file, a compressed one, a sub-directory, a second trades directory.
  "trades/1002.csv": `${ROW}\n`,
  "quotes/9999.csv": `${QUOTE}\n`,
  "trades/1003.CSV": `${ROW}\n`,
  "quotes/1003.csv": Buffer.from(`\ufeff${QUOTE}\n`, "utf16le"),
  "quotes/1001.csv.gz": "",
  "trades/2014/1001.csv": `${ROW}\n`,
  "Trades/1001.csv": `${ROW}\n`
}
for (const [p, content] of Object.entries(files)) {
  fs.mkdirSync(path.dirname(path.join(dir, p)), { recursive: true })
  fs.writeFileSync(path.join(dir, p), content)
}

describe("layerAsx summary totals", () => {
  it.effect("count each dead letter as a data row, a company_info row or a file, and add up", () =>
    Effect.gen(function*() {
      const feed = yield* MarketFeed
      yield* Stream.runDrain(feed.events())
      const s = yield* feed.summary
      const dead: Array<DeadLetter> = fs.readFileSync(deadLetterFile, "utf-8").split("\n").filter((l) => l !== "").map((l) => JSON.parse(l))
      const kinds = { rows: 0, companyInfo: 0, files: 0 }
      for (const d of dead) {
        if (d.file === "reference-data/company_info.csv") kinds.companyInfo++
        else if (d.line === 0) kinds.files++
        else kinds.rows++
      }
      assert.deepStrictEqual(kinds, { rows: 5, companyInfo: 2, files: 7 }, JSON.stringify(dead, null, 1))
      assert.deepStrictEqual(s.deadLetters, kinds)
      assert.strictEqual(s.deadLettered, dead.length)
      assert.strictEqual(s.deadLettered, s.deadLetters.rows + s.deadLetters.companyInfo + s.deadLetters.files)
      assert.deepStrictEqual({ rowsRead: s.rowsRead, trades: s.trades, quotes: s.quotes }, { rowsRead: 9, trades: 3, quotes: 1 })
      assert.strictEqual(s.rowsRead, s.trades + s.quotes + s.deadLetters.rows)
      const bySymbol = Object.values(s.bySymbol)
      assert.strictEqual(bySymbol.reduce((n, c) => n + c.deadLettered, 0), s.deadLetters.rows)
      assert.strictEqual(s.instruments, 2)
    }).pipe(Effect.provide(layerAsx({ dir, deadLetterFile, maxLineChars: 200 }))))
})

describe("layerAsx, rows with spaces around their fields", () => {
  it.effect("reads them as the bare rows, also one that starts with a space", () =>
    Effect.gen(function*() {
      const spaced = path.join(tmp, "spaced")
      fs.mkdirSync(path.join(spaced, "trades"), { recursive: true })
      fs.mkdirSync(path.join(spaced, "reference-data"), { recursive: true })
      fs.writeFileSync(path.join(spaced, "reference-data/company_info.csv"), `${HEADER}\n1001, BHP, BHP,,,\n`)
      fs.writeFileSync(path.join(spaced, "trades/1001.csv"), ` 03/10/2014, 10:05:44.516, 37.51, 40000, 0, , \n\t${ROW}\n`)
      const feed = yield* MarketFeed
      const events = yield* Stream.runCollect(feed.events())
      const trades = events.flatMap((e) => (e._tag === "Trade" ? [e.trade] : []))
      assert.deepStrictEqual(trades.map((t) => [t.message_id, t.price.value, t.price.scale, t.vendor_data]), [
        ["asx:trades/1001.csv:1", 3751n, 2, { company_id: "1001", qualifiers: "0" }],
        ["asx:trades/1001.csv:2", 3751n, 2, { company_id: "1001", qualifiers: "0" }]
      ])
      assert.strictEqual((yield* feed.summary).deadLettered, 0)
    }).pipe(Effect.provide(layerAsx({ dir: path.join(tmp, "spaced"), deadLetterFile: path.join(tmp, "spaced.jsonl") }))))
})

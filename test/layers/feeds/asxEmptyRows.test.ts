/**
 * A spreadsheet saves an emptied row as separators only (`,,,,,,`). Such a row holds nothing, as a
 * blank line holds nothing, but it was dead-lettered as `date "" is not MM/DD/YYYY` (in company_info:
 * `company_id is empty`), one dead letter per empty row of the sheet.
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

describe("layerAsx and rows of separators only", () => {
  it.effect("skips them as blank lines, not counted as rows; a lone quote is still a bad row", () =>
    Effect.gen(function*() {
      const feed = yield* MarketFeed
      const events = yield* Stream.runCollect(feed.events())
      const summary = yield* feed.summary
      assert.deepStrictEqual(events.flatMap((e) => (e._tag === "Trade" ? [e.trade.message_id] : [])), [
        "asx:trades/1001.csv:1",
        "asx:trades/1001.csv:5"
      ])
      assert.deepStrictEqual({ rowsRead: summary.rowsRead, deadLettered: summary.deadLettered, instruments: summary.instruments }, {
        rowsRead: 3,
        deadLettered: 1,
        instruments: 1
      })
      const dead: Array<DeadLetter> = fs.readFileSync(path.join(dir, "dead.jsonl"), "utf-8").split("\n").filter((l) => l !== "")
        .map((l) => JSON.parse(l))
      assert.deepStrictEqual(dead.map((d) => [d.file, d.line, d.reason]), [["trades/1001.csv", 6, "unclosed quote (a data row cannot span lines)"]])
    }).pipe(Effect.provide(layerAsx({ dir, deadLetterFile: path.join(dir, "dead.jsonl") }))))
})

const dir = (() => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "k2-asx-empty-rows-"))
  fs.mkdirSync(path.join(d, "reference-data"))
  fs.mkdirSync(path.join(d, "trades"))
  fs.writeFileSync(path.join(d, "reference-data/company_info.csv"), `${HEADER}\r\n1001,BHP,BHP,,,\r\n,,,,,\r\n, , ,,,\r\n`)
  fs.writeFileSync(path.join(d, "trades/1001.csv"), `${ROW}\r\n,,,,,,\r\n"","","","","","",""\r\n ,,\t,,,\r\n${ROW}\r\n"\r\n,,,,,,`)
  return d
})()

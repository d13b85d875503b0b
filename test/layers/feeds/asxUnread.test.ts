/**
 * What a load directory holds but the ASX feed does not read is said, never skipped without a word:
 * compressed or otherwise named files and sub-directories of trades/ and quotes/ were ignored, and a
 * `Trades/` directory (an archive made on Windows) was not found on a case-sensitive disk; each run
 * ended "complete" with none of their rows published. A UTF-16 file (Windows PowerShell's `>`,
 * Excel's "Unicode text") was read as UTF-8: two dead letters per row ("expected 7 columns, found
 * 1", 'date "\u00000\u00003..." is not MM/DD/YYYY') whose line numbers were not the file's.
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
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "k2-asx-unread-"))

const loadDir = (name: string, files: Record<string, string | Uint8Array>) => {
  const dir = path.join(tmp, name)
  for (const [p, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, p)), { recursive: true })
    fs.writeFileSync(path.join(dir, p), content)
  }
  return layerAsx({ dir, deadLetterFile: path.join(tmp, `${name}.dl.jsonl`) })
}
const deadLetters = (name: string): Array<DeadLetter> =>
  fs.readFileSync(path.join(tmp, `${name}.dl.jsonl`), "utf-8").split("\n").filter((l) => l !== "").map((l) => JSON.parse(l))

const load = Effect.gen(function*() {
  const feed = yield* MarketFeed
  const events = yield* Stream.runCollect(feed.events())
  return { events, summary: yield* feed.summary }
})

describe("layerAsx, entries it does not read", () => {
  it.effect("dead-letters each file of trades/ and quotes/ that is not <company_id>.csv, and each sub-directory; hidden files are ignored", () =>
    Effect.gen(function*() {
      const { events, summary } = yield* load
      assert.deepStrictEqual(events.flatMap((e) => (e._tag === "Trade" ? [e.trade.message_id] : [])), ["asx:trades/1001.csv:1"])
      assert.strictEqual(summary.complete, true)
      assert.strictEqual(summary.deadLettered, 4)
      assert.deepStrictEqual(deadLetters("unread").map((d) => [d.file, d.line, d.raw]), [
        ["trades/1002.csv.gz", 0, ""],
        ["trades/1003.txt", 0, ""],
        ["trades/2014", 0, ""],
        ["quotes/1001.zip", 0, ""]
      ])
      const reasons = deadLetters("unread").map((d) => d.reason)
      assert.match(reasons[0]!, /not read: not a <company_id>\.csv file \(decompress it first\)/)
      assert.match(reasons[1]!, /not read: not a <company_id>\.csv file$/)
      assert.match(reasons[2]!, /not read: a directory/)
      assert.match(reasons[3]!, /decompress it first/)
    }).pipe(Effect.provide(loadDir("unread", {
      "reference-data/company_info.csv": `${HEADER}\n1001,BHP,BHP,,,\n1002,CBA,CBA,,,\n1003,NAB,NAB,,,\n`,
      "trades/1001.csv": `${ROW}\n`,
      "trades/1002.csv.gz": "\x1f\x8b",
      "trades/1003.txt": `${ROW}\n`,
      "trades/2014/1003.csv": `${ROW}\n`,
      "trades/.DS_Store": "",
      "trades/._1001.csv": "\x00\x05\x16\x07",
      "quotes/1001.zip": "PK"
    }))))

  it.effect("rejects a UTF-16 data file whole, saying so", () =>
    Effect.gen(function*() {
      const { events, summary } = yield* load
      assert.deepStrictEqual(events.flatMap((e) => (e._tag === "Quote" ? [e.quote.message_id] : [])), ["asx:quotes/1001.csv:1"])
      assert.deepStrictEqual({ rowsRead: summary.rowsRead, deadLettered: summary.deadLettered }, { rowsRead: 1, deadLettered: 2 })
      assert.deepStrictEqual(deadLetters("utf16").map((d) => [d.file, d.line, d.reason]), [
        ["trades/1001.csv", 0, "not read: UTF-16 text (it starts with the byte order mark FF FE); save it as UTF-8"],
        ["trades/1002.csv", 0, "not read: UTF-16 text (it starts with the byte order mark FE FF); save it as UTF-8"]
      ])
    }).pipe(Effect.provide(loadDir("utf16", {
      "reference-data/company_info.csv": `${HEADER}\n1001,BHP,BHP,,,\n1002,CBA,CBA,,,\n`,
      "trades/1001.csv": Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`${ROW}\r\n${ROW}\r\n`, "utf16le")]),
      "trades/1002.csv": Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(`${ROW}\r\n`, "utf16le").swap16()]),
      "quotes/1001.csv": `${QUOTE}\n`
    }))))

  it.effect("fails with SourceInvalid naming UTF-16 when company_info.csv is UTF-16", () =>
    Effect.gen(function*() {
      const feed = yield* MarketFeed
      const error = yield* Stream.runCollect(feed.events()).pipe(Effect.flip)
      assert.strictEqual(error.reason._tag, "SourceInvalid")
      assert.include(error.message, "UTF-16 text (it starts with the byte order mark FF FE); save it as UTF-8")
    }).pipe(Effect.provide(loadDir("utf16-info", {
      "reference-data/company_info.csv": Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`${HEADER}\r\n1001,BHP,BHP,,,\r\n`, "utf16le")])
    }))))

  it.effect("dead-letters a link to a directory in trades/ as a directory, even one named <company_id>.csv", () =>
    Effect.gen(function*() {
      const { events, summary } = yield* load
      assert.deepStrictEqual(events.flatMap((e) => (e._tag === "Trade" ? [e.trade.message_id] : [])), ["asx:trades/1001.csv:1"])
      assert.strictEqual(summary.complete, true)
      assert.deepStrictEqual(deadLetters("linked").map((d) => [d.file, d.line]), [["trades/1002.csv", 0]])
      assert.match(deadLetters("linked")[0]!.reason, /not read: a directory/)
    }).pipe(Effect.provide((() => {
      const layer = loadDir("linked", {
        "reference-data/company_info.csv": `${HEADER}\n1001,BHP,BHP,,,\n1002,CBA,CBA,,,\n`,
        "trades/1001.csv": `${ROW}\n`,
        "elsewhere/1002.csv": `${ROW}\n`
      })
      fs.symlinkSync(path.join(tmp, "linked", "elsewhere"), path.join(tmp, "linked", "trades", "1002.csv"))
      return layer
    })())))

  it.effect("reads a data directory named in another case (Trades/, QUOTES/), as it reads 1001.CSV", () =>
    Effect.gen(function*() {
      const { events, summary } = yield* load
      assert.deepStrictEqual(
        events.flatMap((e) => (e._tag === "Trade" ? [e.trade.message_id] : e._tag === "Quote" ? [e.quote.message_id] : [])),
        ["asx:trades/1001.csv:1", "asx:quotes/1001.csv:1"]
      )
      assert.strictEqual(summary.deadLettered, 1)
      // Its dead letters name the file as it is on disk.
      assert.deepStrictEqual(deadLetters("cased").map((d) => [d.file, d.line]), [["Trades/1001.csv", 2]])
    }).pipe(Effect.provide(loadDir("cased", {
      "reference-data/company_info.csv": `${HEADER}\n1001,BHP,BHP,,,\n`,
      "Trades/1001.csv": `${ROW}\nbad\n`,
      "QUOTES/1001.csv": `${QUOTE}\n`
    }))))

  it.effect("of two data directories differing in case, reads trades/ and dead-letters the other whole", () =>
    Effect.gen(function*() {
      const { events } = yield* load
      assert.deepStrictEqual(events.flatMap((e) => (e._tag === "Trade" ? [e.trade.message_id] : [])), ["asx:trades/1001.csv:1"])
      assert.deepStrictEqual(deadLetters("two-cased").map((d) => [d.file, d.line]), [["Trades", 0]])
    }).pipe(Effect.provide(loadDir("two-cased", {
      "reference-data/company_info.csv": `${HEADER}\n1001,BHP,BHP,,,\n`,
      "trades/1001.csv": `${ROW}\n`,
      "Trades/1001.csv": `${ROW}\n${ROW}\n`
    }))))
})

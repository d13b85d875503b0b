import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { BigDecimal, Effect, Result, Schema, Stream } from "effect"
import type { DeadLetter, FeedEvent } from "../../../src/domain/feeds/events.ts"
import { decodeQuote, decodeTrade, Quote, Trade } from "../../../src/domain/marketData.ts"
import { type AsxOptions, layerAsx } from "../../../src/layers/feeds/asx.ts"
import { MarketFeed } from "../../../src/services/MarketFeed.ts"

const fixtures = fileURLToPath(new URL("../../fixtures/asx/basic", import.meta.url))
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "k2-asx-"))
const deadLetterFile = path.join(tmp, "dead-letters.jsonl")
const layer = layerAsx({ dir: fixtures, deadLetterFile, blockBytes: 64 })

const load = Effect.gen(function*() {
  const feed = yield* MarketFeed
  const events = yield* Stream.runCollect(feed.events())
  const summary = yield* feed.summary
  return { events, summary }
})

const trades = (events: ReadonlyArray<FeedEvent>) => events.flatMap((e) => (e._tag === "Trade" ? [e.trade] : []))
const quotes = (events: ReadonlyArray<FeedEvent>) => events.flatMap((e) => (e._tag === "Quote" ? [e.quote] : []))
const micros = (...a: [number, number, number, number, number, number?, number?]) =>
  Date.UTC(a[0], a[1] - 1, a[2], a[3], a[4], a[5] ?? 0, a[6] ?? 0) * 1000

describe("layerAsx on the fixture directory", () => {
  it.effect("emits instruments, then every good row; counts and dead-letters the bad ones", () =>
    Effect.gen(function*() {
      const { events, summary } = yield* load
      const instruments = events.filter((e) => e._tag === "Instrument")
      assert.deepStrictEqual(instruments.map((e) => e._tag === "Instrument" && e.instrument.symbol), ["BHP", "CBA"])
      assert.strictEqual(events.findIndex((e) => e._tag !== "Instrument"), 2, "instruments come first")
      assert.deepStrictEqual(
        { ...summary, bySymbol: undefined },
        {
          source: "asx",
          complete: true,
          rowsRead: 26,
          instruments: 2,
          trades: 14,
          quotes: 5,
          poison: 0,
          deadLettered: 9,
          deadLetters: { rows: 7, companyInfo: 1, files: 1 },
          bySymbol: undefined
        }
      )
      assert.deepStrictEqual(summary.bySymbol, {
        BHP: { trades: 11, quotes: 5, deadLettered: 7, poison: 0 },
        CBA: { trades: 3, quotes: 0, deadLettered: 0, poison: 0 }
      })
    }).pipe(Effect.provide(layer)))

  it.effect("writes each bad row with file, line, reason and raw text", () =>
    Effect.gen(function*() {
      yield* load
      const dead: Array<DeadLetter> = fs.readFileSync(deadLetterFile, "utf-8").trim().split("\n").map((l) => JSON.parse(l))
      assert.deepStrictEqual(dead.map((d) => `${d.file}:${d.line}`), [
        "reference-data/company_info.csv:4",
        "trades/1001.csv:9",
        "trades/1001.csv:10",
        "trades/1001.csv:11",
        "trades/1001.csv:12",
        "trades/1001.csv:13",
        "quotes/1001.csv:5",
        "quotes/1001.csv:6",
        "trades/9999.csv:0"
      ])
      const byLine = new Map(dead.map((d) => [`${d.file}:${d.line}`, d]))
      assert.deepStrictEqual(byLine.get("trades/1001.csv:10"), {
        file: "trades/1001.csv",
        line: 10,
        reason: "negative price -37.70",
        raw: "04/07/2014,10:00:02.000,-37.70,500,0,,"
      })
      assert.match(byLine.get("trades/1001.csv:9")!.reason, /expected 7 columns, found 4/)
      assert.match(byLine.get("trades/1001.csv:11")!.reason, /not a decimal/)
      assert.match(byLine.get("trades/1001.csv:12")!.reason, /date/)
      assert.match(byLine.get("trades/1001.csv:13")!.reason, /time/)
      assert.match(byLine.get("quotes/1001.csv:5")!.reason, /negative ask/)
      assert.match(byLine.get("reference-data/company_info.csv:4")!.reason, /isin/)
      assert.match(byLine.get("trades/9999.csv:0")!.reason, /not in reference-data\/company_info.csv/)
    }).pipe(Effect.provide(layer)))

  it.effect("keeps identical rows as distinct events with positional ids and row-order sequences", () =>
    Effect.gen(function*() {
      const { events } = yield* load
      const bhp = trades(events).filter((t) => t.symbol === "BHP")
      const first3 = bhp.slice(0, 3)
      assert.deepStrictEqual(first3.map((t) => t.message_id), [
        "asx:trades/1001.csv:1",
        "asx:trades/1001.csv:2",
        "asx:trades/1001.csv:3"
      ])
      assert.strictEqual(new Set(first3.map((t) => `${t.exchange_timestamp}|${BigDecimal.format(t.price)}|${BigDecimal.format(t.quantity)}`)).size, 1)
      assert.deepStrictEqual(bhp.map((t) => t.source_sequence), Array.from({ length: 11 }, (_, i) => BigInt(i + 1)))
      assert.deepStrictEqual(quotes(events).map((q) => q.source_sequence), [1n, 2n, 3n, 4n, 5n])
      const cba = trades(events).filter((t) => t.symbol === "CBA")
      assert.deepStrictEqual(cba.map((t) => t.message_id), ["asx:trades/1002.csv:1", "asx:trades/1002.csv:2", "asx:trades/1002.csv:4"])
      assert.deepStrictEqual(cba.map((t) => t.source_sequence), [1n, 2n, 3n])
      const ids = [...trades(events), ...quotes(events)].map((e) => e.message_id)
      assert.strictEqual(new Set(ids).size, ids.length, "message ids are unique")
    }).pipe(Effect.provide(layer)))

  it.effect("converts Sydney local time with daylight saving, across both 2014 changes", () =>
    Effect.gen(function*() {
      const { events } = yield* load
      const byLine = new Map(trades(events).map((t) => [t.message_id, t.exchange_timestamp]))
      const at = (line: number) => byLine.get(`asx:trades/1001.csv:${line}`)
      assert.strictEqual(at(1), micros(2014, 3, 9, 23, 5, 44, 516)) // AEDT +11
      assert.strictEqual(at(4), micros(2014, 4, 4, 4, 59, 59, 999)) // Friday before the change, +11
      assert.strictEqual(at(5), micros(2014, 4, 5, 14, 30)) // 2014-04-06 01:30, still +11
      assert.strictEqual(at(6), micros(2014, 4, 5, 15, 30)) // 02:30 happens twice: the first (+11)
      assert.strictEqual(at(7), micros(2014, 4, 6, 0, 0)) // 2014-04-06 10:00 AEST +10
      assert.strictEqual(at(8), micros(2014, 4, 7, 0, 0)) // Monday, +10
      assert.strictEqual(at(14), micros(2014, 10, 3, 6, 0)) // 2014-10-03 16:00 AEST +10
      assert.strictEqual(at(15), micros(2014, 10, 4, 16, 30)) // 2014-10-05 02:30 does not exist: 03:30 AEDT
      assert.strictEqual(at(16), micros(2014, 10, 5, 23, 0)) // 2014-10-06 10:00 AEDT +11
    }).pipe(Effect.provide(layer)))

  it.effect("keeps zero asks and crossed quotes", () =>
    Effect.gen(function*() {
      const qs = quotes((yield* load).events)
      assert.isTrue(BigDecimal.isZero(qs[0]!.ask_price))
      const crossed = qs.filter((q) => !BigDecimal.isZero(q.ask_price) && BigDecimal.isGreaterThan(q.bid_price, q.ask_price))
      assert.deepStrictEqual(crossed.map((q) => q.message_id), ["asx:quotes/1001.csv:4"])
    }).pipe(Effect.provide(layer)))

  it.effect("emits records that pass the domain schemas unchanged", () =>
    Effect.gen(function*() {
      const { events } = yield* load
      for (const t of trades(events)) {
        const wire = Schema.encodeSync(Trade)(t)
        assert.deepStrictEqual(Schema.encodeSync(Trade)(Result.getOrThrow(decodeTrade(wire))), wire)
      }
      for (const q of quotes(events)) {
        const wire = Schema.encodeSync(Quote)(q)
        assert.deepStrictEqual(Schema.encodeSync(Quote)(Result.getOrThrow(decodeQuote(wire))), wire)
      }
    }).pipe(Effect.provide(layer)))

  it.effect("re-loading gives the same events and ids", () =>
    Effect.gen(function*() {
      const a = (yield* load).events
      const b = (yield* load).events
      const wire = (es: ReadonlyArray<FeedEvent>) => [
        ...trades(es).map((t) => Schema.encodeSync(Trade)(t)),
        ...quotes(es).map((q) => Schema.encodeSync(Quote)(q))
      ]
      assert.deepStrictEqual(wire(a), wire(b))
    }).pipe(Effect.provide(layer)))

  it.effect("fails with SourceMissing for a missing directory", () =>
    Effect.gen(function*() {
      const feed = yield* MarketFeed
      const error = yield* Stream.runCollect(feed.events()).pipe(Effect.flip)
      assert.strictEqual(error._tag, "FeedError")
      assert.strictEqual(error.reason._tag, "SourceMissing")
    }).pipe(Effect.provide(layerAsx({ dir: path.join(tmp, "nope"), deadLetterFile }))))

  it.effect("fails with SourceInvalid when company_info.csv has no header", () =>
    Effect.gen(function*() {
      const dir = path.join(tmp, "noheader")
      fs.mkdirSync(path.join(dir, "reference-data"), { recursive: true })
      fs.writeFileSync(path.join(dir, "reference-data/company_info.csv"), "1001,BHP,BHP,AU000000BHP4,01/01/2000,\n")
      const feed = yield* MarketFeed
      const error = yield* Stream.runCollect(feed.events()).pipe(Effect.flip)
      assert.strictEqual(error.reason._tag, "SourceInvalid")
    }).pipe(Effect.provide(layerAsx({ dir: path.join(tmp, "noheader"), deadLetterFile: path.join(tmp, "dl2.jsonl") }))))

  // blockBytes 0 read every data file as empty: no row, no dead letter, `complete: true`; maxLineChars 0
  // dead-lettered every row, NaN took any length; a negative or fractional size was an "I/O failure".
  it.effect("fails with FeedMisconfigured for a block or line size that is not a positive whole number, touching nothing", () =>
    Effect.gen(function*() {
      const settings = [
        { blockBytes: 0 }, { blockBytes: -1 }, { blockBytes: 1.5 }, { blockBytes: Number.NaN },
        { maxLineChars: 0 }, { maxLineChars: -5 }, { maxLineChars: Number.NaN }, { maxLineChars: Number.POSITIVE_INFINITY }
      ]
      for (const setting of settings) {
        const file = path.join(tmp, "misconfigured.jsonl")
        const error = yield* Effect.gen(function*() {
          const feed = yield* MarketFeed
          return yield* Stream.runCollect(feed.events())
        }).pipe(
          Effect.provide(layerAsx({ dir: fixtures, deadLetterFile: file, ...setting })),
          Effect.flip
        )
        assert.strictEqual(error.reason._tag, "FeedMisconfigured", JSON.stringify(setting))
        assert.include(error.message, Object.keys(setting)[0]!)
        assert.isFalse(fs.existsSync(file), "no dead-letter file made")
      }
    }))
})

/** A load directory built from `files` (path -> content) under the test's temp dir. */
const loadDir = (name: string, files: Record<string, string | Uint8Array>, options: Partial<AsxOptions> = {}) => {
  const dir = path.join(tmp, name)
  for (const [p, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, p)), { recursive: true })
    fs.writeFileSync(path.join(dir, p), content)
  }
  return layerAsx({ dir, deadLetterFile: path.join(tmp, `${name}.dl.jsonl`), blockBytes: 64, ...options })
}
const deadLetters = (name: string): Array<DeadLetter> =>
  fs.readFileSync(path.join(tmp, `${name}.dl.jsonl`), "utf-8").split("\n").filter((l) => l !== "").map((l) => JSON.parse(l))
const HEADER = "company_id,symbol,company_name,ISIN,start_date,end_date"
const ROW = "03/10/2014,10:05:44.516,37.51,40000,0,,"

describe("layerAsx on awkward files", () => {
  it.effect("numbers a symbol's rows across its company ids in numeric order (9 before 10); a blank line in company_info is no row", () =>
    Effect.gen(function*() {
      const { events, summary } = yield* load
      assert.deepStrictEqual(trades(events).map((t) => [t.message_id, t.source_sequence]), [
        ["asx:trades/9.csv:1", 1n],
        ["asx:trades/10.csv:1", 2n],
        ["asx:trades/10.csv:2", 3n]
      ])
      assert.strictEqual(summary.deadLettered, 0)
      assert.deepStrictEqual(deadLetters("two-ids"), [])
    }).pipe(Effect.provide(loadDir("two-ids", {
      "reference-data/company_info.csv": `${HEADER}\n10,BHP,BHP Group,,,\n\n9,BHP,BHP Billiton,,,\n`,
      "trades/10.csv": `${ROW}\n${ROW}\n`,
      "trades/9.csv": `${ROW}\n`
    }))))

  it.effect("of several company ids naming one symbol, the latest listed is the symbol's last instrument (readers keep the last: it followed the file's row order)", () =>
    Effect.gen(function*() {
      const { events, summary } = yield* load
      const instruments = events.flatMap((e) => (e._tag === "Instrument" ? [e.instrument] : []))
      const last = new Map(instruments.map((i) => [i.symbol, [i.company_id, i.name]]))
      assert.deepStrictEqual(Object.fromEntries(last), {
        BHP: ["10", "BHP Group"],
        CBA: ["20", "Commonwealth Bank"],
        WES: ["31", "Wesfarmers"]
      })
      // Every company is still published (the table keeps their history).
      assert.deepStrictEqual(instruments.map((i) => i.company_id).sort(), ["10", "20", "30", "31", "9"])
      assert.strictEqual(summary.instruments, 5)
      // Every company's rows are still read, under the one symbol.
      assert.deepStrictEqual(trades(events).map((t) => [t.message_id, t.source_sequence]), [
        ["asx:trades/9.csv:1", 1n],
        ["asx:trades/10.csv:1", 2n]
      ])
    }).pipe(Effect.provide(loadDir("reused-symbol", {
      // The current listing first, the old one (same symbol) after it; WES: no dates, the higher id.
      "reference-data/company_info.csv": `${HEADER}\n10,BHP,BHP Group,,06/01/2018,\n9,BHP,BHP Billiton,,01/01/2000,05/31/2018\n` +
        `20,CBA,Commonwealth Bank,,01/01/1991,\n31,WES,Wesfarmers,,,\n30,WES,Wesfarmers (old),,,\n`,
      "trades/10.csv": `${ROW}\n`,
      "trades/9.csv": `${ROW}\n`
    }))))

  it.effect("reads a data file whose extension is upper case instead of failing the load", () =>
    Effect.gen(function*() {
      const { events, summary } = yield* load
      assert.deepStrictEqual(trades(events).map((t) => t.message_id), ["asx:trades/1001.csv:1", "asx:trades/1002.csv:1"])
      assert.strictEqual(summary.complete, true)
      // A second file for one company id is rejected whole, not silently skipped.
      assert.deepStrictEqual(deadLetters("upper-ext").map((d) => [d.file, d.line]), [["trades/1002.CSV", 0]])
    }).pipe(Effect.provide(loadDir("upper-ext", {
      "reference-data/company_info.csv": `${HEADER}\n1001,BHP,BHP,,,\n1002,CBA,CBA,,,\n`,
      "trades/1001.CSV": `${ROW}\n`,
      "trades/1002.csv": `${ROW}\n`,
      "trades/1002.CSV": `${ROW}\n${ROW}\n`
    }))))

  it.effect("splits lines on a lone CR as on LF and CRLF", () =>
    Effect.gen(function*() {
      const { events, summary } = yield* load
      // Lines 1-3 end in CR, CRLF and LF; line 4 is blank; line 5 is bad.
      assert.deepStrictEqual(trades(events).map((t) => t.message_id), [
        "asx:trades/1001.csv:1",
        "asx:trades/1001.csv:2",
        "asx:trades/1001.csv:3",
        "asx:trades/1001.csv:6"
      ])
      assert.strictEqual(summary.rowsRead, 5)
      assert.deepStrictEqual(deadLetters("lone-cr").map((d) => [d.line, d.raw]), [[5, "bad"]])
    }).pipe(Effect.provide(loadDir("lone-cr", {
      "reference-data/company_info.csv": `${HEADER}\r1001,BHP,BHP,,,\r`,
      "trades/1001.csv": `${ROW}\r${ROW}\r\n${ROW}\n\rbad\r${ROW}\r`
    }))))

  it.effect("keeps a company whose quoted name spans lines; an unclosed quote loses only its own line", () =>
    Effect.gen(function*() {
      const { events } = yield* load
      const instruments = events.flatMap((e) => (e._tag === "Instrument" ? [e.instrument] : []))
      assert.deepStrictEqual(instruments.map((i) => [i.company_id, i.symbol]), [["1001", "BHP"], ["1004", "WES"]])
      assert.deepStrictEqual(trades(events).map((t) => t.symbol), ["BHP", "WES"])
      assert.deepStrictEqual(
        deadLetters("multiline").map((d) => [d.file, d.line]),
        [["reference-data/company_info.csv", 4], ["trades/1003.csv", 0]]
      )
    }).pipe(Effect.provide(loadDir("multiline", {
      "reference-data/company_info.csv": `${HEADER}\n1001,BHP,"BHP\nGROUP, THE",,,\n1003,XYZ,"Unclosed,,,\n1004,WES,WESFARMERS,,,\n`,
      "trades/1001.csv": `${ROW}\n`,
      "trades/1003.csv": `${ROW}\n`,
      "trades/1004.csv": `${ROW}\n`
    }))))

  // A line of blanks was a bad row ("expected 7 columns, found 1"), though company_info skips it; a header
  // line (files exported with one, or concatenated) was a bad row in every file: "date "Date" is not MM/DD/YYYY".
  it.effect("skips blank lines and header lines in data files", () =>
    Effect.gen(function*() {
      const { events, summary } = yield* load
      assert.deepStrictEqual([...trades(events), ...quotes(events)].map((e) => e.message_id), [
        "asx:trades/1001.csv:2",
        "asx:trades/1001.csv:6",
        "asx:quotes/1001.csv:2"
      ])
      assert.deepStrictEqual({ rowsRead: summary.rowsRead, deadLettered: summary.deadLettered }, { rowsRead: 4, deadLettered: 1 })
      assert.deepStrictEqual(deadLetters("blank-header").map((d) => [d.file, d.line]), [["trades/1001.csv", 7]])
    }).pipe(Effect.provide(loadDir("blank-header", {
      "reference-data/company_info.csv": `${HEADER}\n1001,BHP,BHP,,,\n`,
      "trades/1001.csv": `Date,Time,Price,Volume,Qualifiers,Venue,BuyerID\n${ROW}\n   \n\t\r\n"date","time","price","volume","qualifiers","venue","buyerid"\n${ROW}\nDate,Time,Price\n`,
      "quotes/1001.csv": `\uFEFFDate,Time,Bid,Ask,BidVolume,AskVolume\r\n03/10/2014,10:00:00.000,37.50,37.52,2000,3000\r\n`
    }))))

  // A company whose row was rejected (here for its ISIN) had its files rejected as "not in company_info.csv".
  it.effect("names the rejected company_info row when rejecting a company's files", () =>
    Effect.gen(function*() {
      yield* load
      assert.deepStrictEqual(deadLetters("rejected-company").map((d) => [d.file, d.line, d.reason]), [
        ["reference-data/company_info.csv", 2, "isin: must be a 12-character ISIN"],
        ["reference-data/company_info.csv", 3, "expected 6 columns, found 2"],
        ["trades/1001.csv", 0, "company id 1001 is rejected: its row in reference-data/company_info.csv (line 2) is invalid"],
        ["trades/1002.csv", 0, "company id 1002 is rejected: its row in reference-data/company_info.csv (line 3) is invalid"],
        ["trades/1003.csv", 0, "company id 1003 is not in reference-data/company_info.csv"]
      ])
    }).pipe(Effect.provide(loadDir("rejected-company", {
      "reference-data/company_info.csv": `${HEADER}\n1001,BHP,BHP,au000000bhp4,,\n1002,CBA\n`,
      "trades/1001.csv": `${ROW}\n`,
      "trades/1002.csv": `${ROW}\n`,
      "trades/1003.csv": `${ROW}\n`
    }))))

  const OVERLONG_HEAD = `${ROW}\n${"x".repeat(5000)}\r\n${ROW}\r${"y".repeat(3001)}\r${ROW}\n`
  // A 64 MB line took 82 s (each 64 KiB block re-copied and re-scanned the whole line so far) and
  // wrote all 64 MB to the dead letters; a file without line breaks could not be loaded at all.
  it.effect("dead-letters an overlong line from its first characters and reads on after it", () =>
    Effect.gen(function*() {
      const { events, summary } = yield* load
      assert.deepStrictEqual(trades(events).map((t) => t.message_id), [
        "asx:trades/1001.csv:1",
        "asx:trades/1001.csv:3",
        "asx:trades/1001.csv:5",
        "asx:trades/1001.csv:7"
      ])
      assert.strictEqual(summary.rowsRead, 8)
      assert.strictEqual(summary.deadLettered, 4)
      const dead = deadLetters("overlong")
      assert.deepStrictEqual(dead.map((d) => [d.line, d.raw.length, d.raw[0]]), [[2, 1000, "x"], [4, 1000, "y"], [6, 1000, "w"], [8, 1000, "z"]])
      for (const d of dead) assert.match(d.reason, /longer than 1000 characters/)
    }).pipe(Effect.provide(loadDir("overlong", {
      "reference-data/company_info.csv": `${HEADER}\n1001,BHP,BHP,,,\n`,
      // Overlong lines ending in CRLF, a lone CR, LF (exactly at a block's end), and at the end of the file.
      "trades/1001.csv": `${OVERLONG_HEAD}${"w".repeat(64 * 200 - OVERLONG_HEAD.length - 1)}\n${ROW}\n${"z".repeat(2000)}`
    }, { maxLineChars: 1000 }))))

  // Bytes that are not UTF-8 were read as U+FFFD, and the row published with a venue or company name it never had.
  it.effect("dead-letters a line holding invalid UTF-8 and reads on after it, whatever the block size", () =>
    Effect.gen(function*() {
      const bytes = (...parts: Array<string | Array<number>>) =>
        Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p) : Buffer.from(p))))
      const files = {
        "reference-data/company_info.csv": bytes(`${HEADER}\n1001,BHP,BHP,,,\n1002,CBA,COMMONWEALTH BANK`, [0xff], `,,,\n`),
        // A lead byte without its continuation; a valid "€" (3 bytes, split by small blocks); a "€" cut off at the end.
        "trades/1001.csv": bytes(`${ROW}\n03/10/2014,10:05:44.516,37.51,40000,0,NX`, [0xc3], `,\n${ROW}€\n${ROW}`, [0xe2, 0x82])
      }
      for (const blockBytes of [1, 2, 64]) {
        const name = `utf8-${blockBytes}`
        const { events, summary } = yield* load.pipe(Effect.provide(loadDir(name, files, { blockBytes })))
        assert.deepStrictEqual(trades(events).map((t) => [t.message_id, t.vendor_data.buyer_id]), [
          ["asx:trades/1001.csv:1", undefined],
          ["asx:trades/1001.csv:3", "€"]
        ])
        assert.deepStrictEqual(events.flatMap((e) => (e._tag === "Instrument" ? [e.instrument.symbol] : [])), ["BHP"])
        assert.strictEqual(summary.deadLettered, 3)
        const dead = deadLetters(name)
        assert.deepStrictEqual(dead.map((d) => [d.file, d.line]), [
          ["reference-data/company_info.csv", 3],
          ["trades/1001.csv", 2],
          ["trades/1001.csv", 4]
        ])
        for (const d of dead) assert.match(d.reason, /not valid UTF-8/)
      }
    }))

  it.effect("reads the same rows and dead letters whatever the block size", () =>
    Effect.gen(function*() {
      const max = 60
      // Lines around the limit (ROW is well under it), with every line ending, a lone CR next to CRLF
      // lines, and multi-byte characters that a block may split.
      const pad = (n: number, c = "x") => c.repeat(n)
      const body = [
        `${ROW}\r\n`, `${pad(max)}\r\n`, `${pad(max + 1)}\r\n`, `${ROW}\r`, `${pad(max)}\r`, `${pad(max + 1)}\n`,
        `${pad(max - 1, "é")}\n`, `${pad(max + 1, "€")}\r\n`, `${ROW}\n`, "\r\n", `${pad(3 * max)}\r`, `${ROW}\r\n`, pad(max + 1)
      ].join("")
      const outcomes: Array<string> = []
      for (const blockBytes of [1, 2, 3, 7, 16, 61, 62, 64, 65, 4096]) {
        const name = `blocks-${blockBytes}`
        const dir = path.join(tmp, name)
        fs.mkdirSync(path.join(dir, "trades"), { recursive: true })
        fs.mkdirSync(path.join(dir, "reference-data"), { recursive: true })
        fs.writeFileSync(path.join(dir, "reference-data/company_info.csv"), `${HEADER}\n1001,BHP,BHP,,,\n`)
        fs.writeFileSync(path.join(dir, "trades/1001.csv"), body)
        const { events, summary } = yield* load.pipe(
          Effect.provide(layerAsx({ dir, deadLetterFile: path.join(tmp, `${name}.dl.jsonl`), blockBytes, maxLineChars: max }))
        )
        outcomes.push(JSON.stringify({
          trades: trades(events).map((t) => t.message_id),
          rowsRead: summary.rowsRead,
          dead: deadLetters(name).map((d) => [d.line, /longer than/.test(d.reason), d.raw])
        }))
      }
      assert.deepStrictEqual(new Set(outcomes).size, 1, outcomes.join("\n"))
      const one = JSON.parse(outcomes[0]!)
      assert.deepStrictEqual(one.trades, [1, 4, 9, 12].map((l) => `asx:trades/1001.csv:${l}`))
      assert.deepStrictEqual(one.dead.map((d: [number, boolean]) => [d[0], d[1]]), [
        [2, false], [3, true], [5, false], [6, true], [7, false], [8, true], [11, true], [13, true]
      ])
    }))
})

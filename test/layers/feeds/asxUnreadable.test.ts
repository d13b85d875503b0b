/**
 * A data file that cannot be opened (a dangling or looping symbolic link, no read permission, a
 * file removed between listing and reading, a FIFO) failed the whole load ("feed source missing"),
 * after other companies' rows had been sent. It is rejected whole, as a file of a company whose
 * company_info row is rejected: a dead letter with `line: 0` naming the file, and the load goes on.
 */
import * as childProcess from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import type { DeadLetter, FeedEvent } from "../../../src/domain/feeds/events.ts"
import { layerAsx } from "../../../src/layers/feeds/asx.ts"
import { MarketFeed } from "../../../src/services/MarketFeed.ts"

const HEADER = "company_id,symbol,company_name,ISIN,start_date,end_date"
const ROW = "03/10/2014,10:05:44.516,37.51,40000,0,,"
const QUOTE = "03/10/2014,10:05:44.516,37.50,37.52,100,200"
const INFO = `${HEADER}\n1001,BHP,BHP,,,\n1002,CBA,CBA,,,\n1003,NAB,NAB,,,\n`
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "k2-asx-unreadable-"))

/** A load directory: 1001 and 1003 readable, trades/1002.csv made by `bad`. */
const loadDir = (name: string, bad: (file: string) => void) => {
  const dir = path.join(tmp, name)
  fs.mkdirSync(path.join(dir, "reference-data"), { recursive: true })
  fs.mkdirSync(path.join(dir, "trades"))
  fs.mkdirSync(path.join(dir, "quotes"))
  fs.writeFileSync(path.join(dir, "reference-data/company_info.csv"), INFO)
  fs.writeFileSync(path.join(dir, "trades/1001.csv"), `${ROW}\nbad\n`)
  fs.writeFileSync(path.join(dir, "trades/1003.csv"), `${ROW}\n`)
  fs.writeFileSync(path.join(dir, "quotes/1002.csv"), `${QUOTE}\n`)
  bad(path.join(dir, "trades/1002.csv"))
  return layerAsx({ dir, deadLetterFile: path.join(tmp, `${name}.dl.jsonl`) })
}
const deadLetters = (name: string): Array<DeadLetter> =>
  fs.readFileSync(path.join(tmp, `${name}.dl.jsonl`), "utf-8").split("\n").filter((l) => l !== "").map((l) => JSON.parse(l))
const ids = (events: ReadonlyArray<FeedEvent>) =>
  events.flatMap((e) => (e._tag === "Trade" ? [e.trade.message_id] : e._tag === "Quote" ? [e.quote.message_id] : []))

const load = (onEvent: (e: FeedEvent) => void = () => undefined) =>
  Effect.gen(function*() {
    const feed = yield* MarketFeed
    const events: Array<FeedEvent> = []
    yield* Stream.runForEach(feed.events(), (e) =>
      Effect.sync(() => {
        events.push(e)
        onEvent(e)
      }))
    return { events, summary: yield* feed.summary }
  })

/** The load goes on past trades/1002.csv, which is one dead letter (line 0) whose reason matches `reason`. */
const goesOn = (name: string, reason: RegExp, onEvent?: (e: FeedEvent) => void) =>
  Effect.gen(function*() {
    const { events, summary } = yield* load(onEvent)
    assert.deepStrictEqual(ids(events), ["asx:trades/1001.csv:1", "asx:quotes/1002.csv:1", "asx:trades/1003.csv:1"])
    assert.strictEqual(summary.complete, true)
    assert.deepStrictEqual(summary.deadLetters, { rows: 1, companyInfo: 0, files: 1 })
    assert.strictEqual(summary.rowsRead, summary.trades + summary.quotes + summary.deadLetters.rows)
    const dl = deadLetters(name)
    assert.strictEqual(dl.length, summary.deadLettered)
    assert.deepStrictEqual(dl.map((d) => [d.file, d.line, d.raw]), [["trades/1001.csv", 2, "bad"], ["trades/1002.csv", 0, ""]])
    assert.match(dl[1]!.reason, reason)
  })

describe("layerAsx, data files it cannot read", () => {
  it.effect("dead-letters a dangling symbolic link and goes on", () =>
    goesOn("dangling", /^not read: .*(no such file|does not exist)/i).pipe(
      Effect.provide(loadDir("dangling", (f) => fs.symlinkSync(path.join(tmp, "nowhere.csv"), f)))
    ))

  it.effect("dead-letters a symbolic link that loops and goes on", () =>
    goesOn("loop", /^not read: /).pipe(Effect.provide(loadDir("loop", (f) => fs.symlinkSync(f, f)))))

  it.effect("dead-letters a file removed after the directory was listed and goes on", () =>
    goesOn("vanished", /^not read: .*(no such file|does not exist)/i, (e) => {
      if (e._tag === "Trade" && e.trade.message_id === "asx:trades/1001.csv:1") fs.rmSync(path.join(tmp, "vanished/trades/1002.csv"))
    }).pipe(Effect.provide(loadDir("vanished", (f) => fs.writeFileSync(f, `${ROW}\n`)))))

  it.effect("dead-letters a file replaced by a directory after listing and goes on", () =>
    goesOn("became-dir", /^not read: .*directory/i, (e) => {
      if (e._tag === "Trade" && e.trade.message_id === "asx:trades/1001.csv:1") {
        const f = path.join(tmp, "became-dir/trades/1002.csv")
        fs.rmSync(f)
        fs.mkdirSync(f)
      }
    }).pipe(Effect.provide(loadDir("became-dir", (f) => fs.writeFileSync(f, `${ROW}\n`)))))

  it.effect("dead-letters a FIFO named like a data file instead of waiting on it", () =>
    goesOn("fifo", /^not read: not a regular file/).pipe(
      Effect.provide(loadDir("fifo", (f) => childProcess.execFileSync("mkfifo", [f])))
    ))
})

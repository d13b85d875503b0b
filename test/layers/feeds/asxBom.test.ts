/** A byte order mark where two exported data files were concatenated. */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { layerAsx } from "../../../src/layers/feeds/asx.ts"
import { MarketFeed } from "../../../src/services/MarketFeed.ts"

const ROW = "03/10/2014,10:05:44.516,37.51,40000,0,,"

describe("layerAsx and byte order marks", () => {
  it.effect("ignores a BOM that starts a data row mid-file (files concatenated), as it does before a header", () =>
    Effect.gen(function*() {
      const feed = yield* MarketFeed
      const events = yield* Stream.runCollect(feed.events())
      const summary = yield* feed.summary
      assert.strictEqual(summary.deadLettered, 0)
      assert.deepStrictEqual(
        events.flatMap((e) => (e._tag === "Trade" ? [e.trade.message_id] : [])),
        ["asx:trades/1001.csv:1", "asx:trades/1001.csv:2", "asx:trades/1001.csv:3"]
      )
    }).pipe(Effect.provide((() => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-asx-bom-"))
      fs.mkdirSync(path.join(dir, "reference-data"))
      fs.mkdirSync(path.join(dir, "trades"))
      fs.writeFileSync(path.join(dir, "reference-data/company_info.csv"), "company_id,symbol,company_name,ISIN,start_date,end_date\n1001,BHP,BHP,,,\n")
      // `cat a.csv b.csv` of two exports that each start with a BOM.
      fs.writeFileSync(path.join(dir, "trades/1001.csv"), `\uFEFF${ROW}\r\n${ROW}\r\n\uFEFF${ROW}\r\n`)
      return layerAsx({ dir, deadLetterFile: path.join(dir, "dead.jsonl") })
    })())))
})

/**
 * One load of an ASX directory, as chunks of feed events: the instruments, then each company's trades
 * and quotes file in turn, block by block, with the dead letters written as it goes.
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { asxFile, COMPANY_INFO_FILE, isBlankOrHeader, parseQuoteRow, parseTradeRow } from "../../domain/feeds/asx.ts"
import { FeedError, type FeedEvent, FeedMisconfigured, type SummaryCounter } from "../../domain/feeds/events.ts"
import { readCompanies } from "./asxCompanies.ts"
import { DeadLetterWriter } from "./asxDeadLetters.ts"
import { dataDir, dataFiles } from "./asxDirectories.ts"
import { INVALID_UTF8, REPLACEMENT } from "./asxEncoding.ts"
import { byNumericId, instrumentOrder } from "./asxInstrumentOrder.ts"
import { guard } from "./asxIoErrors.ts"
import { blocksOfLines } from "./asxLineBlocks.ts"
import { openDataFile } from "./asxOpenDataFile.ts"
import type { AsxOptions } from "./asxOptions.ts"

const DEFAULT_MAX_LINE_CHARS = 64 * 1024
/** Characters of an overlong line kept in its dead letter. */
const OVERLONG_RAW_CHARS = 1000

type NonEmpty<A> = readonly [A, ...Array<A>]

/** Why a size setting cannot be read with, or undefined: 0 read every file as empty, NaN took any line. */
const sizeProblem = (name: string, value: number): string | undefined =>
  Number.isSafeInteger(value) && value >= 1 ? undefined : `${name} must be a whole number of at least 1 (not ${value})`

export async function* load(options: AsxOptions, counter: SummaryCounter): AsyncGenerator<NonEmpty<FeedEvent>> {
  const dir = options.dir
  const blockBytes = options.blockBytes ?? 64 * 1024
  const maxLineChars = options.maxLineChars ?? DEFAULT_MAX_LINE_CHARS
  const problem = sizeProblem("blockBytes", blockBytes) ?? sizeProblem("maxLineChars", maxLineChars)
  if (problem !== undefined) throw new FeedError({ reason: new FeedMisconfigured({ detail: problem }) })
  // Never more than blocksOfLines hands over of an overlong line, so the block size changes nothing.
  const overlongRaw = Math.min(OVERLONG_RAW_CHARS, maxLineChars)
  const overlongReason = `line longer than ${maxLineChars} characters (its first ${overlongRaw} kept)`
  await guard(dir, () => fs.stat(dir))
  const dead = await DeadLetterWriter.open(options.deadLetterFile)
  try {
    const { companies, rejected } = await readCompanies(dir, counter, dead)
    await dead.flush()
    const instruments: Array<FeedEvent> = instrumentOrder(companies).map((c) => ({ _tag: "Instrument", instrument: c.instrument }))
    counter.instruments = instruments.length
    if (instruments.length > 0) yield instruments as unknown as NonEmpty<FeedEvent>

    // Each data directory as it is named on disk (dead letters name files so).
    const dirs = { trades: await dataDir(dir, "trades"), quotes: await dataDir(dir, "quotes") }
    const none = { files: new Map<string, string>(), extra: [], unread: [] }
    const trades = dirs.trades.name === undefined ? none : await dataFiles(path.join(dir, dirs.trades.name), "trades")
    const quotes = dirs.quotes.name === undefined ? none : await dataFiles(path.join(dir, dirs.quotes.name), "quotes")
    const dirName = { trades: dirs.trades.name ?? "trades", quotes: dirs.quotes.name ?? "quotes" }
    for (const [dataType, found] of [["trades", trades], ["quotes", quotes]] as const) {
      const notRead = (file: string, reason: string) => {
        counter.deadLetters.files++
        dead.add({ file, line: 0, reason, raw: "" })
      }
      for (const u of dirs[dataType].unread) notRead(u.file, u.reason)
      for (const u of found.unread) notRead(`${dirName[dataType]}/${u.file}`, u.reason)
      for (const name of found.extra) {
        notRead(`${dirName[dataType]}/${name}`, `another file for company id ${name.slice(0, -4)} is read instead`)
      }
    }
    await dead.flush()
    const ids = [...new Set([...trades.files.keys(), ...quotes.files.keys()])].sort(byNumericId)
    const sequences = new Map<string, { trades: number; quotes: number }>()

    for (const companyId of ids) {
      for (const dataType of ["trades", "quotes"] as const) {
        const name = (dataType === "trades" ? trades : quotes).files.get(companyId)
        if (name === undefined) continue
        // Dead letters name the file as it is on disk; message ids keep `<company_id>.csv`.
        const relative = `${dirName[dataType]}/${name}`
        const company = companies.get(companyId)
        if (company === undefined) {
          counter.deadLetters.files++
          const row = rejected.get(companyId)
          dead.add({
            file: relative,
            line: 0,
            reason: row === undefined
              ? `company id ${companyId} is not in ${COMPANY_INFO_FILE}`
              : `company id ${companyId} is rejected: its row in ${COMPANY_INFO_FILE} (line ${row}) is invalid`,
            raw: ""
          })
          await dead.flush()
          continue
        }
        const symbol = company.instrument.symbol
        const f = asxFile(dataType, companyId, symbol)
        let seq = sequences.get(symbol)
        if (seq === undefined) {
          seq = { trades: 0, quotes: 0 }
          sequences.set(symbol, seq)
        }
        const counts = counter.symbol(symbol)
        const reject = (line: number, reason: string, raw: string) => {
          counter.deadLetters.rows++
          counts.deadLettered++
          dead.add({ file: relative, line, reason, raw })
        }
        const opened = await openDataFile(path.join(dir, relative))
        if (typeof opened === "string") {
          counter.deadLetters.files++
          dead.add({ file: relative, line: 0, reason: opened, raw: "" })
          await dead.flush()
          continue
        }
        for await (const [first, lines, replaced] of blocksOfLines(path.join(dir, relative), opened, blockBytes, maxLineChars)) {
          const out: Array<FeedEvent> = []
          for (let i = 0; i < lines.length; i++) {
            let line = lines[i]!
            let c = line.charCodeAt(0)
            // A BOM mid-file (exports concatenated) is ignored as the decoder ignores one at the start.
            if (c === 0xfeff) {
              line = line.slice(1)
              c = line.charCodeAt(0)
            }
            if (line.length === 0 || line === "\r") continue
            if ((c < 48 || c > 57) && isBlankOrHeader(dataType, line)) continue
            counter.rowsRead++
            const lineNo = first + i
            if (line.length > maxLineChars && line.replace(/\r$/, "").length > maxLineChars) {
              reject(lineNo, overlongReason, line.slice(0, overlongRaw))
            } else if (replaced && line.includes(REPLACEMENT)) {
              reject(lineNo, INVALID_UTF8, line.replace(/\r$/, ""))
            } else if (dataType === "trades") {
              const t = parseTradeRow(f, line, lineNo, BigInt(seq.trades + 1))
              if (typeof t === "string") reject(lineNo, t, line.replace(/\r$/, ""))
              else {
                seq.trades++
                counter.trades++
                counts.trades++
                out.push({ _tag: "Trade", trade: t })
              }
            } else {
              const q = parseQuoteRow(f, line, lineNo, BigInt(seq.quotes + 1))
              if (typeof q === "string") reject(lineNo, q, line.replace(/\r$/, ""))
              else {
                seq.quotes++
                counter.quotes++
                counts.quotes++
                out.push({ _tag: "Quote", quote: q })
              }
            }
          }
          await dead.flush()
          if (out.length > 0) yield out as unknown as NonEmpty<FeedEvent>
        }
      }
    }
    counter.complete = true
  } finally {
    await dead.close()
  }
}

/**
 * MarketFeed over a directory of ASX historical tick files (format: src/domain/feeds/asx.ts).
 *
 * - Files are read in blocks (default 64 KiB) and each block's rows become one stream chunk,
 *   so memory stays bounded whatever the file size and there is no Effect per row.
 * - message_id is positional: `asx:<file>:<line>` with 1-based physical line numbers.
 * - source_sequence is 1-based per (symbol, data type), in line order of the symbol's files
 *   (company ids in numeric order when several map to one symbol), counting accepted rows
 *   only: dead-lettered rows do not consume a number, so a clean re-load has no gaps.
 * - Bad rows go to `deadLetterFile` (JSON lines: file, line, reason, raw), recreated each run;
 *   a line longer than `maxLineChars` is one bad row, with only its first characters kept, and
 *   so is a line holding invalid UTF-8.
 * - What is not read is said: each entry of trades/ and quotes/ that is not a `<company_id>.csv`
 *   file (`1001.csv.gz`, a sub-directory) is a dead letter with line 0; hidden entries are ignored.
 *   A data file that cannot be opened (dangling link, no permission, removed since the listing) or
 *   is no regular file is a dead letter with line 0 too, and the load goes on.
 */
import type { Dirent } from "node:fs"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { Effect, Layer, Stream } from "effect"
import {
  asxFile,
  COMPANY_INFO_FILE,
  type CompanyRow,
  csvRecords,
  isBlankOrHeader,
  isCompanyInfoHeader,
  isEmptyRecord,
  LINE_BREAK,
  parseCompanyRow,
  parseQuoteRow,
  parseTradeRow,
  splitCsv
} from "../../domain/feeds/asx.ts"
import {
  type DeadLetter,
  FeedError,
  type FeedEvent,
  FeedIoFailure,
  SourceInvalid,
  SourceMissing,
  SummaryCounter
} from "../../domain/feeds/events.ts"
import { MarketFeed } from "../../services/MarketFeed.ts"
import { makeDirectory } from "../directories.ts"

export interface AsxOptions {
  /** The load directory: trades/, quotes/ and reference-data/company_info.csv. */
  readonly dir: string
  /** Where rejected rows go, one JSON object a line; replaced on every run. */
  readonly deadLetterFile: string
  /** Bytes read per block (one stream chunk per block, ~1,500 rows). Default 64 KiB: much larger chunks outlive young-generation GC and halve throughput. */
  readonly blockBytes?: number
  /** Longest line read as a row, in characters (default 64 Ki; ASX rows are under 100). */
  readonly maxLineChars?: number
}

const DEFAULT_MAX_LINE_CHARS = 64 * 1024
/**
 * What the decoder puts for bytes that are not UTF-8. A line holding it is a bad row: read on,
 * a corrupt venue or company name would be published as another one. No field of these files
 * holds U+FFFD itself.
 */
const REPLACEMENT = "\uFFFD"
const INVALID_UTF8 = "not valid UTF-8 (holds U+FFFD, the replacement for bytes that are not UTF-8)"
/** Characters of an overlong line kept in its dead letter. */
const OVERLONG_RAW_CHARS = 1000

type NonEmpty<A> = readonly [A, ...Array<A>]

const ioError = (p: string, cause: unknown): FeedError => {
  const err = cause as NodeJS.ErrnoException
  return new FeedError({
    reason: err?.code === "ENOENT"
      ? new SourceMissing({ path: p })
      : new FeedIoFailure({ path: p, detail: err?.message ?? String(cause) })
  })
}

const guard = async <A>(p: string, f: () => Promise<A>): Promise<A> => {
  try {
    return await f()
  } catch (cause) {
    throw ioError(p, cause)
  }
}

/** An entry that is a directory, or a link to one. */
const isDirectoryEntry = async (parent: string, entry: Dirent): Promise<boolean> =>
  entry.isDirectory() ||
  (entry.isSymbolicLink() && (await fs.stat(path.join(parent, entry.name)).then((s) => s.isDirectory(), () => false)))

/** Entries of a directory, [] when it does not exist. */
const entriesOf = async (dir: string): Promise<Array<Dirent>> =>
  fs.readdir(dir, { withFileTypes: true }).catch((e: NodeJS.ErrnoException) => {
    if (e.code === "ENOENT") return [] as Array<Dirent>
    throw ioError(dir, e)
  })

/** An entry of the load directory, or of one of its data directories, that is not read, and why. */
interface Unread {
  readonly file: string
  readonly reason: string
}

/**
 * The load directory's `trades` or `quotes` directory as it is named on disk: in any case (an archive
 * made on Windows may hold `Trades/`), the exact name first; further ones are not read.
 */
const dataDir = async (dir: string, dataType: "trades" | "quotes"): Promise<{ name: string | undefined; unread: Array<Unread> }> => {
  const names: Array<string> = []
  for (const e of await entriesOf(dir)) {
    if (e.name.toLowerCase() === dataType && (await isDirectoryEntry(dir, e))) names.push(e.name)
  }
  names.sort((a, b) => (a === dataType ? -1 : b === dataType ? 1 : a < b ? -1 : a > b ? 1 : 0))
  const [name, ...others] = names
  return { name, unread: others.map((o) => ({ file: o, reason: `not read: the directory ${name} holds the ${dataType} instead` })) }
}

const COMPRESSED = /\.(gz|zip|bz2|xz|zst|7z|tar|tgz)$/i

/**
 * `<company_id>.csv` files of a data directory (none when it does not exist): company id ->
 * the file's real name (the extension's case may differ, e.g. `1001.CSV`), plus the names of
 * further files for an id that already has one (rejected whole by the caller), and the entries
 * that are not read: other files (`1001.csv.gz`) and directories. Hidden entries (`.DS_Store`,
 * macOS's `._1001.csv`) are no data and are ignored.
 */
const dataFiles = async (
  dir: string,
  dataType: "trades" | "quotes"
): Promise<{ files: Map<string, string>; extra: Array<string>; unread: Array<Unread> }> => {
  const entries = (await entriesOf(dir)).filter((e) => !e.name.startsWith("."))
  const files = new Map<string, string>()
  const extra: Array<string> = []
  const unread: Array<Unread> = []
  const csv: Array<string> = []
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (await isDirectoryEntry(dir, e)) {
      unread.push({ file: e.name, reason: `not read: a directory (a company's rows are read from <company_id>.csv files directly in ${dataType}/)` })
    } else if (e.name.toLowerCase().endsWith(".csv")) csv.push(e.name)
    else unread.push({ file: e.name, reason: `not read: not a <company_id>.csv file${COMPRESSED.test(e.name) ? " (decompress it first)" : ""}` })
  }
  // Exact `.csv` first, so it is the one read when `1001.csv` and `1001.CSV` both exist.
  for (const n of csv.sort((a, b) => (a < b ? 1 : a > b ? -1 : 0))) {
    const id = n.slice(0, -4)
    if (files.has(id)) extra.push(n)
    else files.set(id, n)
  }
  return { files, extra, unread }
}

const hasLoneCr = (text: string): boolean => {
  for (let i = text.indexOf("\r"); i !== -1; i = text.indexOf("\r", i + 1)) {
    if (text.charCodeAt(i + 1) !== 10) return true
  }
  return false
}

/**
 * Why a file starting with `bytes` cannot be read as UTF-8 text, or undefined. A UTF-16 file (Windows
 * PowerShell's `>`, Excel's "Unicode text") read as UTF-8 made two bad rows of each row, with line
 * numbers that were not the file's.
 */
const utf16Text = (bytes: Uint8Array): string | undefined => {
  const bom = bytes.length >= 2 && ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff))
  return bom ? `UTF-16 text (it starts with the byte order mark ${bytes[0] === 0xff ? "FF FE" : "FE FF"}); save it as UTF-8` : undefined
}

/** What kind of entry a stat names, for "not read: not a regular file (...)". */
const entryKind = (s: { isFIFO(): boolean; isSocket(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean }) =>
  s.isFIFO() ? "a FIFO" : s.isSocket() ? "a socket" : s.isCharacterDevice() || s.isBlockDevice() ? "a device" : "not a file"

/** Why a data file could not be opened, from the error: its code and what it means, without the path. */
const openFailure = (cause: unknown): string => {
  const err = cause as NodeJS.ErrnoException
  const text = (err?.message ?? String(cause)).replace(/, \w+ '.*'$/, "")
  return err?.code === "ENOENT" ? `${text} (a dangling symbolic link, or removed after the directory was listed)` : text
}

/**
 * A data file opened for reading, or why it is not read (rejected whole, with `line: 0`, like the file of
 * a company whose company_info row is rejected): it cannot be opened (a dangling or looping link, no read
 * permission, removed since the directory was listed), it is no regular file (a directory made since the
 * listing, a FIFO: opened without O_NONBLOCK, that waited for a writer for ever), or it is UTF-16 text.
 * A failure while reading an opened file still fails the load (FeedIoFailure).
 */
const openDataFile = async (file: string): Promise<fs.FileHandle | string> => {
  let handle: fs.FileHandle
  try {
    handle = await fs.open(file, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0))
  } catch (cause) {
    return `not read: ${openFailure(cause)}`
  }
  try {
    const stat = await handle.stat()
    const reason = stat.isDirectory()
      ? "not read: a directory (a company's rows are read from <company_id>.csv files)"
      : !stat.isFile()
      ? `not read: not a regular file (${entryKind(stat)})`
      : undefined
    if (reason !== undefined) {
      await handle.close().catch(() => undefined)
      return reason
    }
    // A positional read: the file's position stays at 0 for blocksOfLines.
    const head = Buffer.alloc(2)
    const { bytesRead } = await handle.read(head, 0, 2, 0)
    const notText = utf16Text(head.subarray(0, bytesRead))
    if (notText !== undefined) {
      await handle.close().catch(() => undefined)
      return `not read: ${notText}`
    }
    return handle
  } catch (cause) {
    await handle.close().catch(() => undefined)
    return `not read: ${openFailure(cause)}`
  }
}

/** Index of the first CR or LF of `text`, or -1. */
const firstBreak = (text: string): number => {
  const lf = text.indexOf("\n")
  const cr = text.indexOf("\r")
  return lf === -1 ? cr : cr === -1 ? lf : Math.min(lf, cr)
}

/**
 * Lines of a file, block by block: `[firstLineNo, lines, replaced]`, lines without their
 * terminator; `replaced` when some line may hold U+FFFD (one scan a block, not one a line). A
 * line longer than `maxLineChars` comes as its first `maxLineChars + 1` characters and the rest
 * is skipped as it is read: carried whole, a line without breaks (a binary or corrupt file) was
 * re-copied and re-scanned with every block (quadratic: 82 s for 64 MB) and could outgrow memory.
 */
async function* blocksOfLines(
  file: string,
  handle: fs.FileHandle,
  blockBytes: number,
  maxLineChars: number
): AsyncGenerator<readonly [number, Array<string>, boolean]> {
  try {
    const buffer = Buffer.allocUnsafe(blockBytes)
    const decoder = new TextDecoder("utf-8")
    let carry = ""
    let lineNo = 1
    // Inside an overlong line already handed over: drop text up to its line break.
    let skipping = false
    for (;;) {
      const { bytesRead } = await guard(file, () => handle.read(buffer, 0, blockBytes, null))
      const eof = bytesRead === 0
      let text = carry + (eof ? decoder.decode() : decoder.decode(buffer.subarray(0, bytesRead), { stream: true }))
      // A CR ending the block may be the first half of a CRLF: decide with the next block.
      const tail = !eof && text.charCodeAt(text.length - 1) === 13 ? "\r" : ""
      if (tail !== "") text = text.slice(0, -1)
      if (skipping) {
        const end = firstBreak(text)
        if (end === -1) {
          if (eof) return
          carry = tail
          continue
        }
        skipping = false
        // A CR here is never the text's last character (that one went to `tail`), so CRLF is whole.
        text = text.slice(text.charCodeAt(end) === 13 && text.charCodeAt(end + 1) === 10 ? end + 2 : end + 1)
      }
      const replaced = text.includes(REPLACEMENT)
      // A lone CR ends a line too (else a CR-only file is one huge bad row); the parsers strip
      // the CR of CRLF, so the common case keeps the fast split.
      const lines = hasLoneCr(text) ? text.split(LINE_BREAK) : text.split("\n")
      carry = eof ? "" : lines.pop()!
      if (carry.length > maxLineChars) {
        lines.push(carry.slice(0, maxLineChars + 1))
        carry = ""
        skipping = true
      }
      carry += tail
      if (eof && lines.length > 0 && lines[lines.length - 1] === "") lines.pop()
      if (lines.length > 0) {
        yield [lineNo, lines, replaced] as const
        lineNo += lines.length
      }
      if (eof) return
    }
  } finally {
    await handle.close().catch(() => undefined)
  }
}

class DeadLetterWriter {
  private pending: Array<string> = []
  readonly file: string
  private readonly handle: fs.FileHandle
  private constructor(file: string, handle: fs.FileHandle) {
    this.file = file
    this.handle = handle
  }
  static async open(file: string): Promise<DeadLetterWriter> {
    await guard(file, () => makeDirectory(path.dirname(path.resolve(file))))
    return new DeadLetterWriter(file, await guard(file, () => fs.open(file, "w")))
  }
  add(d: DeadLetter): void {
    this.pending.push(JSON.stringify(d))
  }
  async flush(): Promise<void> {
    if (this.pending.length === 0) return
    const text = this.pending.join("\n") + "\n"
    this.pending = []
    await guard(this.file, () => this.handle.write(text))
  }
  async close(): Promise<void> {
    await this.handle.close().catch(() => undefined)
  }
}

/**
 * Reads the instrument master: company id -> instrument (bad rows dead-lettered), and the
 * company ids of rejected rows -> the row's line, so that their files say why they are rejected.
 */
const readCompanies = async (dir: string, counter: SummaryCounter, dead: DeadLetterWriter) => {
  const file = path.join(dir, COMPANY_INFO_FILE)
  const bytes = await guard(file, () => fs.readFile(file))
  const notText = utf16Text(bytes)
  if (notText !== undefined) throw new FeedError({ reason: new SourceInvalid({ path: file, detail: notText }) })
  const text = new TextDecoder("utf-8").decode(bytes)
  // Records, not lines: a quoted company name may hold a line break.
  const records = csvRecords(text)
  if (records.length === 0 || !isCompanyInfoHeader(records[0]!.text)) {
    throw new FeedError({
      reason: new SourceInvalid({ path: file, detail: "the first line is not the header company_id,symbol,company_name,ISIN,start_date,end_date" })
    })
  }
  const companies = new Map<string, CompanyRow>()
  const rejected = new Map<string, number>()
  for (let i = 1; i < records.length; i++) {
    const { line, text: raw } = records[i]!
    if (isEmptyRecord(raw)) continue // a blank line, or an emptied spreadsheet row (`,,,,,`)
    const row = raw.includes(REPLACEMENT) ? INVALID_UTF8 : parseCompanyRow(raw)
    const reason = typeof row === "string"
      ? row
      : companies.has(row.companyId)
      ? `duplicate company_id ${row.companyId}`
      : undefined
    if (reason !== undefined || typeof row === "string") {
      counter.deadLetters.companyInfo++
      dead.add({ file: COMPANY_INFO_FILE, line, reason: reason!, raw })
      const id = splitCsv(raw)[0]!.trim()
      if (id !== "" && !rejected.has(id)) rejected.set(id, line)
    } else {
      companies.set(row.companyId, row)
    }
  }
  return { companies, rejected }
}

/** Company ids in numeric order (9 before 10), the order their files are read in. */
const byNumericId = (a: string, b: string) => a.localeCompare(b, "en", { numeric: true })

/**
 * Every company, each symbol's current listing after the others naming it: the latest listed
 * (start_date; of equal or no dates, the higher company id, whose rows are read last). Readers of
 * the instruments topic and table keep the last published per (exchange, symbol); in company_info's
 * row order, an old listing (BHP Billiton) could come last and pass for the current one.
 */
const instrumentOrder = (companies: ReadonlyMap<string, CompanyRow>): Array<CompanyRow> => {
  const listedLater = (a: CompanyRow, b: CompanyRow) => {
    const x = a.instrument.listing_date ?? "", y = b.instrument.listing_date ?? ""
    return x !== y ? x > y : byNumericId(a.companyId, b.companyId) > 0
  }
  const bySymbol = new Map<string, CompanyRow>()
  for (const c of companies.values()) {
    const held = bySymbol.get(c.instrument.symbol)
    if (held === undefined || listedLater(c, held)) bySymbol.set(c.instrument.symbol, c)
  }
  const current = new Set(bySymbol.values())
  return [...[...companies.values()].filter((c) => !current.has(c)), ...current]
}

async function* load(options: AsxOptions, counter: SummaryCounter): AsyncGenerator<NonEmpty<FeedEvent>> {
  const dir = options.dir
  const blockBytes = options.blockBytes ?? 64 * 1024
  const maxLineChars = options.maxLineChars ?? DEFAULT_MAX_LINE_CHARS
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

const toFeedError = (dir: string) => (cause: unknown): FeedError =>
  cause instanceof FeedError ? cause : ioError(dir, cause)

/** The ASX feed as a MarketFeed. */
const makeAsx = (options: AsxOptions) =>
  Effect.sync(() => {
    let counter = new SummaryCounter("asx")
    return MarketFeed.of({
      name: "asx",
      events: () =>
        Stream.suspend(() => {
          counter = new SummaryCounter("asx")
          return Stream.fromAsyncIterable(load(options, counter), toFeedError(options.dir)).pipe(Stream.flattenArray)
        }),
      summary: Effect.sync(() => counter.snapshot()),
      manifest: Effect.succeed([])
    })
  })

export const layerAsx = (options: AsxOptions): Layer.Layer<MarketFeed> => Layer.effect(MarketFeed, makeAsx(options))

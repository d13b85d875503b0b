/**
 * What the ASX load directory holds: its trades/ and quotes/ directories as named on disk, their
 * `<company_id>.csv` files, and the entries that are not read (with why), listed in name order.
 */
import type { Dirent } from "node:fs"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { ioError } from "./asxIoErrors.ts"

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
export interface Unread {
  readonly file: string
  readonly reason: string
}

/**
 * The load directory's `trades` or `quotes` directory as it is named on disk: in any case (an archive
 * made on Windows may hold `Trades/`), the exact name first; further ones are not read.
 */
export const dataDir = async (dir: string, dataType: "trades" | "quotes"): Promise<{ name: string | undefined; unread: Array<Unread> }> => {
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
export const dataFiles = async (
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

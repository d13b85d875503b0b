/**
 * Making a written table file durable before anything references it (ADR-43). The catalog's
 * pointer is synced by its database (SQLite and PostgreSQL fsync their commits); a metadata.json,
 * manifest or Parquet file only by the kernel's writeback, seconds later: neither Node's
 * `writeFile` nor DuckDB's `COPY` syncs. Unsynced, a power loss or OS crash after a commit can leave
 * the pointer naming an empty or cut-short file (the table unreadable, every commit refused). And a
 * writeback that fails (a thin volume full, an I/O error) is only ever reported by fsync: unsynced,
 * the commit lands on bytes the disk never took.
 */
import type { FileHandle } from "node:fs/promises"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { Context } from "effect"
import { makeDirectory } from "../directories.ts"

export interface Durability {
  /** Flushes to the disk what was written to `file` (a file, or a directory's entries), open as `handle`. */
  readonly sync: (handle: FileHandle, file: string) => Promise<void>
}

/** How writes are made durable: fsync; a test swaps it to see (or fail) the syncs. */
export const DurabilityRef = Context.Reference<Durability>("k2/iceberg/Durability", {
  defaultValue: () => ({ sync: (handle) => handle.sync() })
})

/** Syncs a file written elsewhere (by DuckDB). */
export const syncFile = async (durability: Durability, file: string) => {
  const handle = await fs.open(file, "r")
  try {
    await durability.sync(handle, file)
  } finally {
    await handle.close()
  }
}

/** File systems that cannot sync a directory (some network and FUSE ones) say so with these: nothing to do there. */
const UNSYNCABLE_DIRECTORY = new Set(["EINVAL", "EISDIR", "EPERM", "EBADF", "ENOTSUP"])

/**
 * Syncs the entries of `dir`, the directory a new file was written in, and of the directories
 * `mkdir` made for it (`created`: the first it made, as `makeDirectory`
 * answers), whose names are in their parents: a file synced but not its name is lost all the same.
 */
export const syncDirectories = async (durability: Durability, dir: string, created: string | undefined) => {
  const top = created === undefined ? dir : path.dirname(created)
  for (let d = dir; ; d = path.dirname(d)) {
    await syncFile(durability, d).catch((e: NodeJS.ErrnoException) =>
      UNSYNCABLE_DIRECTORY.has(e.code ?? "") ? undefined : Promise.reject(e)
    )
    if (d === top || d === path.dirname(d)) return
  }
}

/**
 * Opens a new file (never replacing one: `wx`), making its directory only when the file
 * cannot be opened for want of it (ENOENT): a table's directories nearly always exist, and a `mkdir`
 * of one a write was a round trip through libuv's pool on the flush's path (ADR-84). Asked each time,
 * never remembered: a directory removed since (by hand, by another engine) is made again. Answers
 * the first directory made, as `makeDirectory` does (undefined: none).
 */
const openNew = async (file: string): Promise<{ readonly handle: FileHandle; readonly created: string | undefined }> => {
  try {
    return { handle: await fs.open(file, "wx"), created: undefined }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e
    const created = await makeDirectory(path.dirname(file))
    return { handle: await fs.open(file, "wx"), created }
  }
}

/**
 * Writes a new file (never replacing one: `wx`) and returns once it and its name are on the disk.
 * A write or sync that fails (the disk full part way, an I/O error) removes the file: cut short or
 * not durable, it is nobody's, and left at its final name it would look whole to a listing.
 */
export const writeDurably = async (durability: Durability, file: string, bytes: Uint8Array) => {
  const dir = path.dirname(file)
  const { created, handle } = await openNew(file)
  try {
    try {
      await handle.writeFile(bytes)
      await durability.sync(handle, file)
    } finally {
      await handle.close()
    }
    await syncDirectories(durability, dir, created)
  } catch (e) {
    await fs.rm(file, { force: true }).catch(() => undefined)
    throw e
  }
}

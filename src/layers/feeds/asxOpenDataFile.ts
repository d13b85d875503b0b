/** A data file opened for reading, or the dead-letter reason it is not read for. */
import * as fs from "node:fs/promises"
import { utf16Text } from "./asxEncoding.ts"

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
export const openDataFile = async (file: string): Promise<fs.FileHandle | string> => {
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

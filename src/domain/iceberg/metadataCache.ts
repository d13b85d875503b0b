import type { TableMetadata } from "./spec.ts"

/**
 * Decoded metadata by file location (a metadata file never changes once written): each table's
 * newest file read or written, whatever its history weighs. Each commit writes a new file that
 * repeats every retained snapshot, so a file it superseded is dropped rather than kept as a
 * near-copy (its table's pointer names it no more). A cache bounded by snapshots (20,000) kept only
 * one table of a longer history: reads of trades and quotes in turn parsed each table's file
 * anew at every request (seconds, a day of one-second commits being 88 MB). What it holds is what
 * reading each table needs at once anyway: one current metadata per table the process reads.
 */
/**
 * `metadata` (at `location`) is an earlier file of the table `held` is: one its metadata log names, or
 * at a lower sequence number of the same table (its log keeps a few files only). A table created again
 * under the name (another uuid) starts anew, so is not older.
 */
const olderThan = (location: string, metadata: TableMetadata, held: { readonly location: string; readonly metadata: TableMetadata }) =>
  location !== held.location &&
  ((metadata["table-uuid"] === held.metadata["table-uuid"] &&
    metadata["last-sequence-number"] < held.metadata["last-sequence-number"]) ||
    held.metadata["metadata-log"].some((e) => e["metadata-file"] === location))

export const metadataCache = () => {
  const newest = new Map<string, { readonly location: string; readonly metadata: TableMetadata }>()
  const tableOf = new Map<string, string>()
  return {
    get(location: string): TableMetadata | undefined {
      const table = tableOf.get(location)
      return table === undefined ? undefined : newest.get(table)?.metadata
    },
    /** Ignored when `location` is older than the table's file held (a reader that read an old pointer). */
    set(table: string, location: string, metadata: TableMetadata) {
      const before = newest.get(table)
      if (before !== undefined && olderThan(location, metadata, before)) return
      if (before !== undefined) tableOf.delete(before.location)
      newest.set(table, { location, metadata })
      tableOf.set(location, table)
    }
  }
}

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
export const metadataCache = () => {
  const newest = new Map<string, { readonly location: string; readonly metadata: TableMetadata }>()
  const tableOf = new Map<string, string>()
  return {
    get(location: string): TableMetadata | undefined {
      const table = tableOf.get(location)
      return table === undefined ? undefined : newest.get(table)?.metadata
    },
    set(table: string, location: string, metadata: TableMetadata) {
      const before = newest.get(table)
      if (before !== undefined) tableOf.delete(before.location)
      newest.set(table, { location, metadata })
      tableOf.set(location, table)
    }
  }
}

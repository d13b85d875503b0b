/**
 * Which snapshot of each table a read answers from, decided before it runs, so that its ETag
 * names exactly what is read. The HTTP reads and `npm run query` pin alike: load the tables
 * (loadInvolved), then decide (pure, given the metadata and the time).
 */
import { Effect, Result } from "effect"
import type { SnapshotParam } from "../../domain/api/params.ts"
import { decodeCursor, TRADES_WITH_QUOTES } from "../../domain/query/cursor.ts"
import { currentSnapshot, noSnapshotAt, snapshotAsOf, snapshotById } from "../../domain/iceberg/metadata.ts"
import type { TableMetadata } from "../../domain/iceberg/spec.ts"
import { identifierOf, type TableName } from "../../domain/tables.ts"
import { type Catalog, showIdentifier } from "../../services/Catalog.ts"
import { pinnedSnapshotGone, type SnapshotSelector, SnapshotNotFound, unknownSnapshotId } from "../../services/TableScanner.ts"

export interface Pinned {
  /** Snapshot id per table (null when the table has none). */
  readonly ids: Record<string, string | null>
  /** What the engine reads: ById for one table, AsOf for several (one instant for all). */
  readonly selector: SnapshotSelector | undefined
  /** The answer can never change: a snapshot id, or an instant no commit can still be stamped before. */
  readonly immutable: boolean
  /**
   * For the latest state, the tables' metadata versions: what changes without a new snapshot
   * (snapshots expired, properties) changes this, so an answer about history is not served stale.
   */
  readonly revision: string
}

/** The metadata of each table a read involves; undefined for a table not created yet (read as empty). */
export type Loaded = ReadonlyArray<readonly [TableName, TableMetadata | undefined]>

/** Loads the tables a read involves, as `pinSnapshots` takes them. */
export const loadInvolved = (catalog: Catalog["Service"], involved: ReadonlyArray<TableName>) =>
  Effect.forEach(involved, (t) =>
    catalog.loadTable(identifierOf(t)).pipe(
      Effect.map((l) => [t, l.metadata] as const),
      // A table not created yet reads as empty.
      Effect.catchIf((e) => e.reason._tag === "NoSuchTable", () => Effect.succeed([t, undefined] as const))
    ))

/** Beside an empty or partial answer on a CLI's stderr: tables not created yet (read as empty, as in the API). */
export const NOTHING_YET = "not created yet: nothing ingested"

/** The note naming `missing` (tables not created yet) as `npm run query` and `npm run replay` print it. */
export const notCreatedNote = (missing: ReadonlyArray<TableName>) =>
  `${missing.map((t) => showIdentifier(identifierOf(t))).join(", ")}: ${NOTHING_YET}`

/** The tables of `loaded` not created yet. */
export const notCreated = (loaded: Loaded): ReadonlyArray<TableName> => loaded.filter(([, m]) => m === undefined).map(([t]) => t)

/** The snapshot ids a read pinned (as K2-Snapshot-Ids names them), for the engines to plan by. */
export const idsOf = (pinned: Pinned): Readonly<Record<string, bigint | null>> =>
  Object.fromEntries(Object.entries(pinned.ids).map(([table, id]) => [table, id === null ? null : BigInt(id)]))

/** A commit can be stamped up to this long before it lands (the committer's clock and its retries). */
const SETTLE_MS = 60_000

export const pinSnapshots = (loaded: Loaded, param: SnapshotParam, nowMs: number): Result.Result<Pinned, SnapshotNotFound> => {
  const ids: Record<string, string | null> = {}
  const tables = loaded.map(([t]) => t).join(", ")
  if (param._tag === "Latest") {
    let newest = 0
    let all = true
    for (const [t, m] of loaded) {
      const s = m === undefined ? undefined : currentSnapshot(m)
      ids[t] = s === undefined ? null : s["snapshot-id"].toString()
      if (s === undefined) all = false
      else newest = Math.max(newest, s["timestamp-ms"])
    }
    const only = loaded.length === 1 ? loaded[0]![1] : undefined
    const current = only === undefined ? undefined : currentSnapshot(only)
    const selector: SnapshotSelector | undefined = loaded.length === 1
      ? (current === undefined ? undefined : { _tag: "ById", snapshotId: current["snapshot-id"] })
      : all ? { _tag: "AsOf", timestampMs: newest } : undefined
    const revision = loaded.map(([t, m]) => `${t}@${m?.["last-updated-ms"] ?? "none"}`).join(",")
    return Result.succeed({ ids, selector, immutable: false, revision })
  }
  let timestampMs: number
  let owner: readonly [TableName, TableMetadata | undefined] | undefined
  if (param._tag === "ById") {
    owner = loaded.find(([, m]) => m !== undefined && snapshotById(m, param.snapshotId) !== undefined)
    if (owner === undefined) return Result.fail(unknownSnapshotId(tables, param.snapshotId))
    if (loaded.length === 1) {
      ids[owner[0]] = param.snapshotId.toString()
      return Result.succeed({ ids, selector: { _tag: "ById", snapshotId: param.snapshotId }, immutable: true, revision: "" })
    }
    // Several tables: the others as they were when that snapshot was committed.
    timestampMs = snapshotById(owner[1]!, param.snapshotId)!["timestamp-ms"]
  } else timestampMs = param.timestampMs
  for (const [t, m] of loaded) {
    // The id's own table reads that snapshot: the log may show another current at its commit time
    // (one committed in the same millisecond after it), or none (a tagged snapshot whose entry expiry trimmed).
    if (param._tag === "ById" && t === owner?.[0]) {
      ids[t] = param.snapshotId.toString()
      continue
    }
    const s = m === undefined ? undefined : snapshotAsOf(m, timestampMs)
    // A table whose state then was expired is not empty then: it would read as such beside the others.
    if (s === undefined && m !== undefined && !noSnapshotAt(m, timestampMs)) {
      return Result.fail(new SnapshotNotFound({ table: t, detail: `its state at ${new Date(timestampMs).toISOString()} has expired` }))
    }
    ids[t] = s === undefined ? null : s["snapshot-id"].toString()
  }
  // A table with no snapshot at the instant reads as empty, unless none of them had one.
  if (Object.values(ids).every((id) => id === null)) {
    return Result.fail(new SnapshotNotFound({ table: tables, detail: `none was current at ${new Date(timestampMs).toISOString()}` }))
  }
  // A snapshot id over several tables reads the others as of its commit time: until that settles,
  // a late commit stamped before it can still change what they read.
  const immutable = timestampMs < nowMs - SETTLE_MS
  // One table reads the snapshot its ids name: planning the instant again could find a commit
  // stamped before it that landed since, and answer from a snapshot the headers do not name.
  const single = loaded.length === 1 ? ids[loaded[0]![0]] : undefined
  const selector: SnapshotSelector = single === undefined || single === null
    ? { _tag: "AsOf", timestampMs }
    : { _tag: "ById", snapshotId: BigInt(single) }
  return Result.succeed({ ids, selector, immutable, revision: "" })
}

/**
 * A page after a cursor reads the snapshots the cursor pinned (the first of `involved` at its
 * snapshot, the others at the snapshots it joined), whatever the tables hold now: its answer can
 * never change. Undefined when the text is not such a cursor, or is another route's: the engine
 * says why (invalid_cursor), where pinning another table's snapshot id here made it a 404.
 */
export const pinCursor = (involved: ReadonlyArray<TableName>, text: string): Pinned | undefined => {
  const decoded = decodeCursor(text)
  if (Result.isFailure(decoded)) return undefined
  const cursor = decoded.success
  // The routes that page: one table's rows, or trades with their quotes.
  if (cursor.table !== (involved.length === 1 ? involved[0] : TRADES_WITH_QUOTES)) return undefined
  const ids: Record<string, string | null> = {}
  for (const [i, table] of involved.entries()) {
    const id = i === 0 ? cursor.snapshotId : cursor.joined?.[table]
    if (id === undefined) return undefined
    ids[table] = id === null ? null : id.toString()
  }
  return { ids, selector: undefined, immutable: true, revision: "" }
}

/**
 * A cursor's snapshots must still be kept: one expired since its first page (ADR-33: an hour) is
 * gone for every page of it, whether or not the server still caches a page or the client
 * revalidates one, as a `snapshot_id` of it is. A table not created (undefined) keeps none to check.
 */
export const cursorStillKept = (loaded: Loaded, pinned: Pinned): Result.Result<Pinned, SnapshotNotFound> => {
  for (const [t, m] of loaded) {
    const id = pinned.ids[t]
    if (id === null || id === undefined || m === undefined || snapshotById(m, BigInt(id)) !== undefined) continue
    return Result.fail(pinnedSnapshotGone(new SnapshotNotFound({ table: t, detail: `id ${id}` }), "cursor"))
  }
  return Result.succeed(pinned)
}

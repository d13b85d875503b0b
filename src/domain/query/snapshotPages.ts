/**
 * Pages of a table's snapshot history (`GET /v1/snapshots/{table}`): the newest `limit` first,
 * each page in commit order, older pages named by a cursor. A table keeping days of one-second
 * commits holds tens of thousands of snapshots (86,400 a day, 73 MB of JSON listed whole), so no
 * answer lists more than a page (ADR-53).
 *
 * The cursor holds the snapshot the first page pinned (later pages list that state, whatever was
 * committed since) and the oldest snapshot listed so far: the next page is the `limit` listed before
 * it. Opaque base64url text; its snapshot ids are of the table it pages.
 */
import { Result } from "effect"
import { InvalidCursor } from "./errors.ts"

/** Snapshots an answer lists without a `limit`. */
export const SNAPSHOT_PAGE = 1_000
/** The most a `limit` asks for. */
export const SNAPSHOT_PAGE_MAX = 10_000

export interface SnapshotCursor {
  /** The table and snapshot the first page pinned. */
  readonly table: string
  readonly pinned: bigint
  /** The oldest snapshot listed so far: the next page ends before it. */
  readonly before: bigint
}

const PREFIX = "snapshots:"

export const encodeSnapshotCursor = (c: SnapshotCursor): string =>
  Buffer.from(`${PREFIX}${c.table}:${c.pinned}:${c.before}`).toString("base64url")

export const decodeSnapshotCursor = (text: string, table: string): Result.Result<SnapshotCursor, InvalidCursor> => {
  const parts = /^snapshots:([a-z_]+):(-?\d{1,19}):(-?\d{1,19})$/.exec(Buffer.from(text, "base64url").toString())
  if (parts === null) return Result.fail(new InvalidCursor({ detail: "not a cursor of a snapshot listing" }))
  if (parts[1] !== table) return Result.fail(new InvalidCursor({ detail: `it pages the snapshots of ${parts[1]}, not of ${table}` }))
  return Result.succeed({ table, pinned: BigInt(parts[2]!), before: BigInt(parts[3]!) })
}

/**
 * The page of `listed` (commit order) ending before `before` (the newest when undefined), at most
 * `limit` long, and the snapshot the next page ends before (null: none older). Undefined when
 * `before` is no longer listed (expired since the previous page).
 */
export const snapshotPage = <S extends { readonly snapshotId: bigint }>(
  listed: ReadonlyArray<S>,
  limit: number,
  before: bigint | undefined
): { readonly page: ReadonlyArray<S>; readonly older: bigint | null } | undefined => {
  const end = before === undefined ? listed.length : listed.findIndex((s) => s.snapshotId === before)
  if (end < 0) return undefined
  const start = Math.max(0, end - limit)
  return { page: listed.slice(start, end), older: start > 0 ? listed[start]!.snapshotId : null }
}

/**
 * Keyset pagination cursors: opaque base64url text holding the position after the
 * last row of a page — (exchange_timestamp, source_sequence, message_id) — plus the
 * table and the snapshot the page was read from, so the next page reads the same
 * snapshot and stays stable while writers commit.
 */
import { Result } from "effect"

export interface PageCursor {
  readonly table: string
  /** Null when the table had no snapshot (never produced in practice: an empty table has no next page). */
  readonly snapshotId: bigint | null
  readonly exchangeTimestamp: number
  /** source_sequence with NULL as -1 (sequences are never negative): the order the pages follow. */
  readonly sequence: bigint
  readonly messageId: string
}

const VERSION = 1

export const encodeCursor = (c: PageCursor): string =>
  Buffer.from(
    JSON.stringify([VERSION, c.table, c.snapshotId?.toString() ?? null, c.exchangeTimestamp, c.sequence.toString(), c.messageId]),
    "utf8"
  ).toString("base64url")

const INTEGER = /^-?\d{1,20}$/

export const decodeCursor = (text: string): Result.Result<PageCursor, string> => {
  if (!/^[A-Za-z0-9_-]{1,4096}$/.test(text)) return Result.fail("not base64url text")
  let raw: unknown
  try {
    raw = JSON.parse(Buffer.from(text, "base64url").toString("utf8"))
  } catch {
    return Result.fail("not a K2 cursor")
  }
  if (!Array.isArray(raw) || raw.length !== 6 || raw[0] !== VERSION) return Result.fail("not a K2 cursor (or an old version)")
  const [, table, snapshot, ts, seq, id] = raw as Array<unknown>
  if (
    typeof table !== "string" || (snapshot !== null && (typeof snapshot !== "string" || !INTEGER.test(snapshot))) ||
    typeof ts !== "number" || !Number.isSafeInteger(ts) || typeof seq !== "string" || !INTEGER.test(seq) ||
    typeof id !== "string"
  ) {
    return Result.fail("damaged cursor")
  }
  return Result.succeed({
    table,
    snapshotId: snapshot === null ? null : BigInt(snapshot),
    exchangeTimestamp: ts,
    sequence: BigInt(seq),
    messageId: id
  })
}

/**
 * Keyset pagination cursors: opaque base64url text holding the position after the
 * last row of a page — (exchange_timestamp, source_sequence, message_id) — plus the
 * table and the snapshot the page was read from, so the next page reads the same
 * snapshot and stays stable while writers commit. A page joining other tables (trades with
 * their quotes) also holds the snapshot of each of those, so later pages join the same state.
 * The row's Kafka lineage breaks ties of that key: one record ingested twice (re-sent by its source
 * with an old or NULL sequence, which the sequence tracker keeps) has two rows the key alone cannot
 * tell apart, and a page ending between them would lose the second.
 *
 * A cursor also holds a digest of the query it pages (`queryDigest`: a short hash of each defining
 * parameter, from, to, symbols, fields, filter...), so that one sent with another query is refused
 * naming what differs (`queryDiffers`), not answered with a page of that query from this one's
 * position. The page size is not part of it.
 */
import { createHash } from "node:crypto"
import { Predicate, Result } from "effect"

export interface PageCursor {
  readonly table: string
  /** Null when the table had no snapshot (never produced in practice: an empty table has no next page). */
  readonly snapshotId: bigint | null
  readonly exchangeTimestamp: number
  /** source_sequence with NULL as -1 (sequences are never negative): the order the pages follow. */
  readonly sequence: bigint
  readonly messageId: string
  /** The snapshot each joined table was read at (null: it had none then, so it read as empty). */
  readonly joined?: Readonly<Record<string, bigint | null>>
  /** The row's (kafka_topic, kafka_partition, kafka_offset): after the key, the order's tie-break. */
  readonly lineage?: Lineage
  /** `queryDigest` of the query paged (absent in a cursor made before digests: not checked). */
  readonly query?: string
}

/** The parameters that define a paged query, each as canonical text (the same query, however spelled, gives the same text). */
export type QueryParts = ReadonlyArray<readonly [name: string, canonical: string]>

/** Characters of each part's hash: 30 bits, plenty to tell a mistaken query, 25 characters for trades' five parts. */
const PART_CHARS = 5

const partHash = (canonical: string) => createHash("sha256").update(canonical).digest("base64url").slice(0, PART_CHARS)

/** The digest a cursor carries of its query: each part's hash, in order. */
export const queryDigest = (parts: QueryParts): string => parts.map(([, canonical]) => partHash(canonical)).join("")

/**
 * The names of the parts in which `parts` differ from the query `digest` was made of (empty: the
 * same query). A digest of another shape (another count of parts) differs in all of them.
 */
export const queryDiffers = (digest: string, parts: QueryParts): ReadonlyArray<string> =>
  digest.length !== parts.length * PART_CHARS
    ? parts.map(([name]) => name)
    : parts.filter(([, canonical], i) => digest.slice(i * PART_CHARS, (i + 1) * PART_CHARS) !== partHash(canonical)).map(([name]) => name)

interface Lineage {
  readonly topic: string
  readonly partition: number
  readonly offset: bigint
}

const VERSION = 1

/** What a trades-with-quotes cursor pages (so a cursor of /trades, which pins no quotes, is refused). */
export const TRADES_WITH_QUOTES = "trades_with_quotes"

const idText = (id: bigint | null) => id?.toString() ?? null
const toId = (text: string | null) => (text === null ? null : BigInt(text))
const mapIds = <A, B>(ids: Readonly<Record<string, A>>, f: (a: A) => B) =>
  Object.fromEntries(Object.entries(ids).map(([t, id]) => [t, f(id)]))

export const encodeCursor = (c: PageCursor): string =>
  Buffer.from(
    JSON.stringify([
      VERSION, c.table, idText(c.snapshotId), c.exchangeTimestamp, c.sequence.toString(), c.messageId,
      // Only pages that join have a seventh element (null when a page with lineage or a digest joins nothing),
      // and only those with lineage an eighth (null when one with a digest has none).
      ...(c.joined === undefined ? (c.lineage === undefined && c.query === undefined ? [] : [null]) : [mapIds(c.joined, idText)]),
      ...(c.lineage === undefined ? (c.query === undefined ? [] : [null]) : [[c.lineage.topic, c.lineage.partition, c.lineage.offset.toString()]]),
      ...(c.query === undefined ? [] : [c.query])
    ]),
    "utf8"
  ).toString("base64url")

const INTEGER = /^-?\d{1,20}$/
/** A long (snapshot id, sequence): past int64 the text is damaged, and would fail in DuckDB's cast. */
const isLong = (v: unknown): v is string => {
  if (typeof v !== "string" || !INTEGER.test(v)) return false
  const n = BigInt(v)
  return n >= -(2n ** 63n) && n < 2n ** 63n
}
const isId = (v: unknown): v is string | null => v === null || isLong(v)
/** [topic, partition (an int), offset (a long)]: the columns' types, so DuckDB's casts cannot fail. */
const isLineage = (v: unknown): v is [string, number, string] =>
  Array.isArray(v) && v.length === 3 && typeof v[0] === "string" && Number.isSafeInteger(v[1]) &&
  v[1] >= -(2 ** 31) && v[1] < 2 ** 31 && isLong(v[2])

/** A digest: whole part hashes (base64url), at most a dozen parts. */
const DIGEST = new RegExp(`^(?:[A-Za-z0-9_-]{${PART_CHARS}}){1,12}$`)

export const decodeCursor = (text: string): Result.Result<PageCursor, string> => {
  if (!/^[A-Za-z0-9_-]{1,4096}$/.test(text)) return Result.fail("not base64url text")
  let raw: unknown
  try {
    raw = JSON.parse(Buffer.from(text, "base64url").toString("utf8"))
  } catch {
    return Result.fail("not a K2 cursor")
  }
  if (!Array.isArray(raw) || raw.length < 6 || raw.length > 9 || raw[0] !== VERSION) return Result.fail("not a K2 cursor (or an old version)")
  const [, table, snapshot, ts, seq, id, joined, lineage, query] = raw as Array<unknown>
  const hasJoined = raw.length >= 7 && !(raw.length >= 8 && joined === null)
  if (
    typeof table !== "string" || !isId(snapshot) || typeof ts !== "number" || !Number.isSafeInteger(ts) ||
    !isLong(seq) || typeof id !== "string" ||
    (hasJoined && !(Predicate.isObject(joined) && Object.values(joined).every(isId))) ||
    (raw.length === 8 && !isLineage(lineage)) ||
    (raw.length === 9 && !((lineage === null || isLineage(lineage)) && typeof query === "string" && DIGEST.test(query)))
  ) {
    return Result.fail("damaged cursor")
  }
  return Result.succeed({
    table,
    snapshotId: toId(snapshot),
    exchangeTimestamp: ts,
    sequence: BigInt(seq),
    messageId: id,
    ...(hasJoined ? { joined: mapIds(joined as Record<string, string | null>, toId) } : {}),
    ...(isLineage(lineage) ? { lineage: { topic: lineage[0], partition: lineage[1], offset: BigInt(lineage[2]) } } : {}),
    ...(typeof query === "string" ? { query } : {})
  })
}

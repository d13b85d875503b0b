/**
 * Keyset paging of the row reads (trades, quotes, trades with quotes): a page's cursor is read
 * back and checked against the request, and the next page's rows are those strictly after the
 * cursor's row in the page order.
 */
import { Effect, Result } from "effect"
import { decodeCursor, type PageCursor, queryDiffers, type QueryParts } from "../../domain/query/cursor.ts"
import { InvalidCursor, invalid, type InvalidQuery } from "../../domain/query/errors.ts"
import { formatFixed, parseFixed, rescale } from "../../domain/query/exact.ts"
import { pinnedSnapshotGone, SnapshotNotFound } from "../../services/TableScanner.ts"
import { ORDER_KEY, type Params } from "./sql.ts"

/**
 * A cursor of the pages of `what` for the query of `parts`, or InvalidCursor saying why not: another
 * route's, or another query's (naming the parameters that differ). A cursor without a digest (made
 * before cursors held one) is not checked.
 */
export const readCursor = (text: string, what: string, parts: QueryParts): Effect.Effect<PageCursor, InvalidQuery> => {
  const decoded = decodeCursor(text)
  if (Result.isFailure(decoded)) return Effect.fail(invalid(new InvalidCursor({ detail: decoded.failure })))
  const c = decoded.success
  if (c.table !== what) return Effect.fail(invalid(new InvalidCursor({ detail: `it pages ${c.table}, not ${what}` })))
  const differ = c.query === undefined ? [] : queryDiffers(c.query, parts)
  if (differ.length === 0) return Effect.succeed(c)
  return Effect.fail(invalid(new InvalidCursor({
    detail: `it pages another query: ${differ.join(", ")} ${differ.length === 1 ? "differs" : "differ"} from the request that gave it ` +
      "(send the cursor with that request's parameters, limit and format aside, or start again without one)"
  })))
}

/** A decimal bound as canonical text (10, 10.0 and 10.00000000 are one bound). */
export const canonicalDecimal = (text: string | undefined) => (text === undefined ? "" : formatFixed(rescale(parseFixed(text))))

/** A cursor's snapshot that is gone (expired since its first page) is said to be the cursor's, with what to do. */
export const pinnedBy = (after: PageCursor | undefined) => <A, E, R>(planned: Effect.Effect<A, E, R>) =>
  after === undefined ? planned : Effect.mapError(planned, (e) =>
    e instanceof SnapshotNotFound ? pinnedSnapshotGone(e, "cursor") : e)

/**
 * The order pages follow: the order key, then the row's Kafka lineage, which tells apart the rows
 * of one record ingested twice (same key): keyset pages that stop between them must not lose one.
 */
export const PAGE_KEY = `${ORDER_KEY}, kafka_topic, kafka_partition, kafka_offset`

/**
 * The lineage columns a page's last row gives its cursor. The partition as the int it is in K2's
 * schema: promoted to long by another engine (ADR-2), a field-id read gives a BIGINT, whose bigint
 * no cursor could hold (every page with a next one failed).
 */
export const LINEAGE_COLUMNS = `kafka_topic AS "__topic", kafka_partition::INTEGER AS "__part", kafka_offset AS "__off"`

/**
 * A cursor's lineage (`lineage` of PageCursor) from the values of LINEAGE_COLUMNS. None when one is
 * null: K2's lineage columns another engine dropped read as null (ADR-2), and a cursor holding a null
 * topic could not be read back (every next page was "damaged cursor"). Without lineage the next page
 * goes by the order key alone (`afterCursor`), as a cursor made before pages held lineage does.
 */
export const lineageOf = (topic: unknown, partition: unknown, offset: unknown): { readonly lineage?: NonNullable<PageCursor["lineage"]> } =>
  topic === null || partition === null || offset === null
    ? {}
    : { lineage: { topic: topic as string, partition: partition as number, offset: offset as bigint } }

/** ` AND` the rows strictly after a cursor's row in the page order (PAGE_KEY; ORDER_KEY for a cursor without lineage). */
export const afterCursor = (params: Params, after: PageCursor | undefined) => {
  if (after === undefined) return ""
  const key = `${params.micros(after.exchangeTimestamp)}, ${params.add(after.sequence)}::BIGINT, ${params.add(after.messageId)}::VARCHAR`
  const l = after.lineage
  return l === undefined
    ? ` AND (${ORDER_KEY}) > (${key})`
    : ` AND (${PAGE_KEY}) > (${key}, ${params.add(l.topic)}::VARCHAR, ${params.add(l.partition)}::INTEGER, ${params.add(l.offset)}::BIGINT)`
}

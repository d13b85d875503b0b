/**
 * Pages of trades or quotes rows: the request's checks, the page's SQL (keyset paging, paging.ts)
 * and the reader that turns its chunks into rows and the next page's cursor.
 */
import type { DuckDBVector } from "@duckdb/node-api"
import { Effect } from "effect"
import { quoted } from "../../domain/errors.ts"
import type { Schema as TableSchema } from "../../domain/iceberg/spec.ts"
import { encodeCursor, type PageCursor, queryDigest, type QueryParts } from "../../domain/query/cursor.ts"
import { InvalidArgument, invalid } from "../../domain/query/errors.ts"
import { checkDecimal, checkFields, checkLimit, checkRange, checkSymbols } from "../../domain/query/validate.ts"
import { definitionOf } from "../../domain/tables.ts"
import type { MarketRow, MarketTable, RowsRequest } from "../../services/QueryEngine.ts"
import type { ScanPlan } from "../../services/TableScanner.ts"
import { cellReader, type Chunk, piecesReader, rowBuilder } from "../duckdb/results.ts"
import { quoteIdent } from "../duckdb/sqlText.ts"
import { num } from "./answers.ts"
import { afterCursor, canonicalDecimal, LINEAGE_COLUMNS, lineageOf, PAGE_KEY } from "./paging.ts"
import { decimalColumns, pageColumn, type Params, PIECED_COLUMNS, symbolFilter, timeFilter } from "./sql.ts"

/** A decimal column's bounds a request filters on (either may be absent). */
export interface DecimalFilter {
  readonly column: string
  readonly min: string | undefined
  readonly max: string | undefined
}

/** The request checked: what it reads, which of its fields are maps, and what defines its pages (`parts`). */
export const checkRowsRequest = (table: MarketTable, request: RowsRequest) =>
  Effect.gen(function*() {
    const schema = definitionOf(table).schema
    const symbols = yield* Effect.fromResult(checkSymbols(request.symbols))
    const range = yield* Effect.fromResult(checkRange(request.from, request.to))
    const limit = yield* Effect.fromResult(checkLimit(request.limit))
    const fields = yield* Effect.fromResult(checkFields(request.fields, schema.fields.map((f) => f.name)))
    const maps = fields.map((f) => {
      const type = schema.fields.find((x) => x.name === f)?.type
      return typeof type === "object" && type.type === "map"
    })
    const allowed = decimalColumns(schema)
    const filters: Array<DecimalFilter> = []
    for (const f of request.filters ?? []) {
      if (!allowed.includes(f.column)) {
        return yield* invalid(new InvalidArgument({ name: "filter column", detail: `${quoted(f.column)}; ${table} can be filtered on ${allowed.join(", ")}` }))
      }
      const min = yield* Effect.fromResult(checkDecimal(`${f.column} min`, f.min))
      const max = yield* Effect.fromResult(checkDecimal(`${f.column} max`, f.max))
      filters.push({ column: f.column, min, max })
    }
    // What defines the pages (docs/query.md): a cursor pages this query, no other.
    const parts: QueryParts = [
      ["from", String(range.from)],
      ["to", String(range.to)],
      ["symbols", symbols.join(",")],
      ["fields", fields.join(",")],
      ["filter", filters.map((f) => `${f.column}:${canonicalDecimal(f.min)}:${canonicalDecimal(f.max)}`).sort().join(",")]
    ]
    return { schema, symbols, range, limit, fields, maps, filters, parts }
  })

/** The cursor needs the order key; fields that already hold a part of it are not read twice. */
const keyColumns = (fields: ReadonlyArray<string>) => ({
  tsKey: fields.includes("exchange_timestamp") ? "exchange_timestamp" : "__ts",
  idKey: fields.includes("message_id") ? "message_id" : "__id"
})

/** A page's rows in [from, to) after the cursor's row, in page order: `fields`, the order key and lineage, limit + 1 of them. */
export const rowsPageSql = (
  params: Params,
  p: ScanPlan,
  schema: TableSchema,
  read: {
    readonly from: number
    readonly to: number
    readonly symbols: ReadonlyArray<string>
    readonly filters: ReadonlyArray<DecimalFilter>
    readonly after: PageCursor | undefined
    readonly fields: ReadonlyArray<string>
    readonly limit: number
  }
) => {
  const { from, to, symbols, filters, after, fields, limit } = read
  const source = params.files(p)
  let where = `${timeFilter(params, from, to)}${symbolFilter(params, symbols)}`
  for (const f of filters) {
    if (f.min !== undefined) where += ` AND ${quoteIdent(f.column)} >= ${params.decimal(f.min)}`
    if (f.max !== undefined) where += ` AND ${quoteIdent(f.column)} <= ${params.decimal(f.max)}`
  }
  where += afterCursor(params, after)
  const { tsKey, idKey } = keyColumns(fields)
  const select = [
    ...fields.map((f) => pageColumn(schema, f)),
    ...(tsKey === "__ts" ? ["epoch_us(exchange_timestamp)::DOUBLE AS \"__ts\""] : []),
    "coalesce(source_sequence, -1) AS \"__seq\"",
    ...(idKey === "__id" ? ["message_id AS \"__id\""] : []),
    LINEAGE_COLUMNS
  ].join(", ")
  return `SELECT ${select} FROM ${source} WHERE ${where} ORDER BY ${PAGE_KEY} LIMIT ${params.add(limit + 1)}`
}

/**
 * Reads `rowsPageSql`'s chunks (`convert`) into the page's rows, at most `limit`; `next()` is then
 * the cursor of the next page, or null when the page is the last.
 */
export const rowsPageReader = (
  table: MarketTable,
  read: {
    readonly fields: ReadonlyArray<string>
    readonly maps: ReadonlyArray<boolean>
    readonly limit: number
    readonly snapshotId: bigint | null
    readonly parts: QueryParts
  }
) => {
  const { fields, maps, limit, snapshotId, parts } = read
  const { tsKey, idKey } = keyColumns(fields)
  const build = rowBuilder(fields)
  let lastKey: ReadonlyArray<unknown> = []
  let next: string | null = null
  const convert = (chunk: Chunk, out: Array<MarketRow>) => {
    const readers = fields.map((f, i) =>
      maps[i] ? mapReader(chunk.column(f)) : PIECED_COLUMNS.has(f) ? piecesReader(chunk, `__${f}`) : cellReader(chunk.column(f))
    )
    // The order key is read for one row, the page's last: its vectors only then.
    const key = () => [tsKey, "__seq", idKey, "__topic", "__part", "__off"].map((k) => cellReader(chunk.column(k)))
    for (let r = 0; r < chunk.rowCount; r++) {
      // The row past the page only says there is more: the cursor is the page's last row.
      if (out.length === limit) {
        next ??= encodeCursor({
          table,
          snapshotId,
          exchangeTimestamp: num(lastKey[0]),
          sequence: lastKey[1] as bigint,
          messageId: lastKey[2] as string,
          ...lineageOf(lastKey[3], lastKey[4], lastKey[5]),
          query: queryDigest(parts)
        })
        return
      }
      out.push(build(readers, r))
      if (out.length === limit) lastKey = key().map((read) => read(r))
    }
  }
  return { convert, next: () => next }
}

/** One empty map for every row without one (frozen: shared by rows). */
const EMPTY_MAP: Readonly<Record<string, string>> = Object.freeze({})

/** A MAP column as the API gives it: an object (DuckDB's conversion gives key/value entries). */
const mapReader = (vector: DuckDBVector): (row: number) => unknown => {
  const read = cellReader(vector)
  return (row) => {
    const v = read(row) as ReadonlyArray<{ key: string; value: string }> | null
    return v === null ? null : v.length === 0 ? EMPTY_MAP : Object.fromEntries(v.map((e) => [e.key, e.value]))
  }
}

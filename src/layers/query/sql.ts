/**
 * SQL text for the query engine. Only K2's own text is ever put into SQL: column names
 * come from the table definitions, placeholders are numbered here, and every value a
 * caller gave — symbols, instants, decimal bounds, cursors, zones — is a parameter.
 */
import { type DuckDBValue, listValue } from "@duckdb/node-api"
import type { ScanFilter } from "../../domain/iceberg/pruning.ts"
import type { Schema as TableSchema } from "../../domain/iceberg/spec.ts"
import type { ScanPlan } from "../../services/TableScanner.ts"
import { plannedPaths, readPlannedFiles } from "../duckdb/readPlan.ts"
import { quoteIdent } from "../duckdb/sqlText.ts"

/** Positional parameters, numbered as they are added. */
export class Params {
  readonly values: Array<DuckDBValue> = []
  add(value: DuckDBValue): string {
    this.values.push(value)
    return `$${this.values.length}`
  }
  /** The plan's files as a `FROM` source (`readPlannedFiles`). */
  files(plan: Pick<ScanPlan, "files" | "schema" | "byFieldId" | "byName">): string {
    return readPlannedFiles(this.add(listValue([...plannedPaths(plan)])), plan)
  }
  micros(value: number): string {
    return `make_timestamptz(${this.add(BigInt(value))}::BIGINT)`
  }
  decimal(text: string): string {
    return `${this.add(text)}::DECIMAL(18, 8)`
  }
}


/**
 * How a column reaches JS exactly: decimals as text, instants as epoch micros (exact in a double).
 * An int stays an int (a number): another engine may have promoted it to long (ADR-2), which a
 * field-id read gives as a BIGINT (a bigint in JS).
 */
export const columnExpression = (schema: TableSchema, name: string): string => {
  const field = schema.fields.find((f) => f.name === name)
  const id = quoteIdent(name)
  if (field === undefined) return id
  const type = typeof field.type === "string" ? field.type : field.type.type
  if (type.startsWith("decimal")) return `${id}::VARCHAR AS ${id}`
  if (type === "timestamptz" || type === "timestamp") return `epoch_us(${id})::DOUBLE AS ${id}`
  if (type === "date") return `${id}::VARCHAR AS ${id}`
  if (type === "int") return `${id}::INTEGER AS ${id}`
  return id
}

export const decimalColumns = (schema: TableSchema): ReadonlyArray<string> =>
  schema.fields.filter((f) => typeof f.type === "string" && f.type.startsWith("decimal")).map((f) => f.name)

/** `AND symbol IN ($n, ...)`, or nothing for every symbol. */
export const symbolFilter = (params: Params, symbols: ReadonlyArray<string>, column = "symbol"): string =>
  symbols.length === 0 ? "" : ` AND ${column} IN (${symbols.map((s) => params.add(s)).join(", ")})`

export const timeFilter = (params: Params, from: number, to: number, column = "exchange_timestamp"): string =>
  `${column} >= ${params.micros(from)} AND ${column} < ${params.micros(to)}`

/** A plan's files, only their rows of `symbols` (all when none) in [from, to): `FROM` this. */
export const filteredFiles = (params: Params, plan: Pick<ScanPlan, "files" | "schema" | "byFieldId" | "byName">, from: number, to: number, symbols: ReadonlyArray<string>): string =>
  `${params.files(plan)} WHERE ${timeFilter(params, from, to)}${symbolFilter(params, symbols)}`

/** What the scanner plans for `filteredFiles`' rows: the files that may hold them. */
export const marketFilter = (symbols: ReadonlyArray<string>, from: number, to: number): ScanFilter => ({
  time: { column: "exchange_timestamp", from, to },
  ...(symbols.length > 0 ? { values: [{ column: "symbol", values: symbols }] } : {})
})

/**
 * `column` (a TIMESTAMPTZ) as wall-clock time in `zone`. Intl, which checks K2_SEQUENCE_ZONES and
 * counts ingest's days, also takes fixed offsets (±HH, ±HHMM, ±HH:MM) as zones; DuckDB's ICU knows
 * no such name ("Unknown TimeZone"), so those are added as an offset instead.
 */
export const localTimestamp = (params: Params, zone: string, column = "exchange_timestamp"): string => {
  const m = /^([+-])(\d{2})(?::?(\d{2}))?$/.exec(zone)
  if (m === null) return `timezone(${params.add(zone)}::VARCHAR, ${column})`
  const micros = BigInt((Number(m[2]) * 60 + Number(m[3] ?? "0")) * 60_000_000)
  return `make_timestamp(epoch_us(${column}) + ${params.add(m[1] === "-" ? -micros : micros)}::BIGINT)`
}

/** A quote has a mid and a spread when both its sides are priced (docs/decisions.md ADR-40); NULL when a side is. */
export const TWO_SIDED = (alias: string) => `${alias}bid_price > 0 AND ${alias}ask_price > 0`

/** The total order of rows: exchange time, then source sequence (NULL first, as -1), then message_id. */
export const ORDER_KEY = "exchange_timestamp, coalesce(source_sequence, -1), message_id"

/**
 * OHLC, volume, count and the exact notional over rows t(price, quantity, ts, seq, message_id).
 * Decimals stay DECIMAL: they reach JS exact (results.ts), cheaper than DuckDB printing them.
 * Open and close go by the order key, then the price: rows tied on the whole key (an id a source
 * reused for another price) otherwise gave whichever copy a thread met first, a different bar per
 * run. The price costs nothing to read; the Kafka lineage (pages' tie-break) cost a third more.
 */
export const OHLCV = `
  arg_min(price, (ts, seq, message_id, price)) AS open,
  max(price) AS high,
  min(price) AS low,
  arg_max(price, (ts, seq, message_id, price)) AS close,
  sum(quantity) AS volume,
  count(*)::DOUBLE AS trade_count,
  sum(price::DECIMAL(38, 8) * quantity::DECIMAL(38, 8)) AS notional`

/** The bucket start of `ts` (epoch micros) for an interval given as a parameter: floor, also before 1970. */
export const bucketExpression = (interval: string) => `(ts - (((ts % ${interval}) + ${interval}) % ${interval}))`

/**
 * A text column as three 12-character pieces, `${as}_0` to `${as}_2`: DuckDB keeps strings of up
 * to 12 bytes inside the vector, where JS reads them without a native call each (a longer one costs
 * a native call per row, microseconds). For columns whose values repeat (a topic), where substr on
 * DuckDB's dictionary costs nearly nothing.
 */
export const pieces = (column: string, as: string) =>
  `substr(${column}, 1, 12) AS ${as}_0, substr(${column}, 13, 12) AS ${as}_1, substr(${column}, 25) AS ${as}_2`

/**
 * `pieces` of a column of unique strings (ids), where substr costs DuckDB about 30 ns a row each:
 * the string itself when short, later pieces NULL.
 */
export const idPieces = (column: string, as: string) =>
  `CASE WHEN strlen(${column}) <= 12 THEN ${column} ELSE substr(${column}, 1, 12) END AS ${as}_0,
  CASE WHEN strlen(${column}) > 12 THEN substr(${column}, 13, 12) END AS ${as}_1,
  CASE WHEN strlen(${column}) > 24 THEN substr(${column}, 25) END AS ${as}_2`

/**
 * Text columns whose values repeat and run past 12 characters (the topic): pages select them as
 * `pieces` under `__<name>`. Unique ids are not split: substr on every row costs DuckDB more than
 * the native reads it saves JS.
 */
export const PIECED_COLUMNS: ReadonlySet<string> = new Set(["kafka_topic"])

/** The select expression(s) of a page's column. */
export const pageColumn = (schema: TableSchema, name: string): string =>
  PIECED_COLUMNS.has(name) ? pieces(quoteIdent(name), `__${name}`) : columnExpression(schema, name)

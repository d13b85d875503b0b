/**
 * A statement's whole answer as row objects, in one round trip.
 *
 * `connection.run` returns the answer materialized; its chunks are then read synchronously.
 * (`runAndReadAll` fetches chunk by chunk, each fetch another hop through the libuv thread
 * pool: about a millisecond apiece on a loaded machine, as much as a small query itself.)
 * Columns are read vector by vector; DECIMAL values arrive exact, as `Fixed` (unscaled bigint
 * and scale), so callers doing decimal arithmetic never go through text.
 */
import {
  type DuckDBConnection,
  DuckDBDecimal128Vector,
  DuckDBDecimal16Vector,
  DuckDBDecimal32Vector,
  DuckDBDecimal64Vector,
  type DuckDBDecimalType,
  DuckDBTypeId,
  type DuckDBValue,
  type DuckDBVector,
  JSDuckDBValueConverter
} from "@duckdb/node-api"
import type { Fixed } from "../../domain/query/exact.ts"

export type Row = Record<string, unknown>

/** Types whose JS value is the vector's own item (string, number, bigint, boolean). */
const PLAIN = new Set<DuckDBTypeId>([
  DuckDBTypeId.VARCHAR,
  DuckDBTypeId.DOUBLE,
  DuckDBTypeId.BIGINT,
  DuckDBTypeId.INTEGER,
  DuckDBTypeId.BOOLEAN
])

const cellReader = (vector: DuckDBVector): (row: number) => unknown => {
  if (
    vector instanceof DuckDBDecimal16Vector || vector instanceof DuckDBDecimal32Vector ||
    vector instanceof DuckDBDecimal64Vector || vector instanceof DuckDBDecimal128Vector
  ) {
    const scale = (vector.type as DuckDBDecimalType).scale
    return (row) => {
      const unscaled = vector.getScaledValue(row)
      return unscaled === null ? null : { unscaled: BigInt(unscaled), scale } satisfies Fixed
    }
  }
  const type = vector.type
  if (PLAIN.has(type.typeId)) return (row) => vector.getItem(row)
  // Lists, maps and the rest as @duckdb/node-api's JS conversion gives them.
  return (row) => JSDuckDBValueConverter(vector.getItem(row), type, JSDuckDBValueConverter)
}

/** Runs `sql` with positional `values`; every row as an object keyed by (deduplicated) column name. */
export const readRows = async (
  connection: DuckDBConnection,
  sql: string,
  values: ReadonlyArray<DuckDBValue>
): Promise<Array<Row>> => {
  const result = await connection.run(sql, [...values])
  const names = result.deduplicatedColumnNames()
  const rows: Array<Row> = []
  const chunks = result.chunkCount
  for (let c = 0; c < chunks; c++) {
    const chunk = result.getChunk(c)
    const readers = names.map((_, i) => cellReader(chunk.getColumnVector(i)))
    const size = chunk.rowCount // a native call each time it is read
    for (let r = 0; r < size; r++) {
      const row: Row = {}
      for (let i = 0; i < names.length; i++) row[names[i]!] = readers[i]!(r)
      rows.push(row)
    }
  }
  return rows
}

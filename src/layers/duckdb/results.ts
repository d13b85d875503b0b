/**
 * A statement's whole answer, in one round trip: as row objects (`readRows`), or chunk by chunk
 * for callers converting columns straight to their own objects (`readChunks`, vectors.ts).
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
import { lru } from "../../domain/lru.ts"
import type { Fixed } from "../../domain/query/exact.ts"
import { executeOne } from "./DuckDb.ts"
import { bigints, integerAt, Interned, isEmptyAt, isNull, lists, nullableDoubles, nullableIntegers, numberAt, repeatedPiecesReader, slotTextAt, texts } from "./vectors.ts"

export type Row = Record<string, unknown>

/** One list for every empty LIST or MAP value (as @duckdb/node-api's conversion gives them: arrays). */
const EMPTY_LIST: ReadonlyArray<never> = Object.freeze([])

/** A reader of one vector's rows as `readRows` gives them. */
export const cellReader = (vector: DuckDBVector): (row: number) => unknown => {
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
  switch (type.typeId) {
    case DuckDBTypeId.VARCHAR: {
      const t = texts(vector)
      const seen = new Interned() // this vector's only
      return (row) => isNull(t.valid, row) ? null : slotTextAt(t, row, seen)
    }
    case DuckDBTypeId.DOUBLE: {
      const d = nullableDoubles(vector)
      return (row) => numberAt(d, row)
    }
    case DuckDBTypeId.BIGINT: {
      const b = bigints(vector)
      return (row) => numberAt(b, row)
    }
    case DuckDBTypeId.INTEGER: {
      const i = nullableIntegers(vector)
      return (row) => integerAt(i, row)
    }
    case DuckDBTypeId.BOOLEAN:
      return (row) => vector.getItem(row)
    case DuckDBTypeId.LIST:
    case DuckDBTypeId.MAP: {
      const l = lists(vector)
      return (row) =>
        isNull(l.valid, row) ? null : isEmptyAt(l, row) ? EMPTY_LIST : JSDuckDBValueConverter(vector.getItem(row), type, JSDuckDBValueConverter)
    }
  }
  // The rest as @duckdb/node-api's JS conversion gives them.
  return (row) => JSDuckDBValueConverter(vector.getItem(row), type, JSDuckDBValueConverter)
}

/** Builds the row at an index from one reader per column, in the order of its column names. */
export type RowBuilder = (readers: ReadonlyArray<(row: number) => unknown>, row: number) => Row

/** Column lists seen recently: K2's own queries use a few, page requests choose subsets of a schema. */
const builders = lru<RowBuilder>(256)

/**
 * The row builder of a column list: a function generated once per list that returns one object
 * literal, so every row has one shape from the start and every column its own call site, both of
 * which V8 keeps monomorphic; storing cells by computed key into a copied template made each store
 * and reader call megamorphic (ADR-16). The keys are quoted with JSON.stringify, so no name,
 * whatever it holds, is read as code.
 */
export const rowBuilder = (names: ReadonlyArray<string>): RowBuilder => {
  const key = JSON.stringify(names)
  let build = builders.get(key)
  if (build === undefined) {
    // A literal's "__proto__" key would set the prototype; computed, it is a column like any other.
    const cells = names.map((name, i) => `${name === "__proto__" ? "[\"__proto__\"]" : JSON.stringify(name)}: readers[${i}](row)`)
    build = new Function("readers", "row", `return { ${cells.join(", ")} }`) as RowBuilder
    builders.set(key, build)
  }
  return build
}

/** What `readChunks` hands over: one materialized chunk, its columns by name. */
export interface Chunk {
  /** The answer's (deduplicated) column names, in order. */
  readonly names: ReadonlyArray<string>
  readonly rowCount: number
  readonly column: (name: string) => DuckDBVector
}

/** A text column selected as three pieces `${as}_0` .. `${as}_2` (query/sql.ts `pieces`), read back whole. */
export const piecesReader = (chunk: Chunk, as: string): (row: number) => string | null =>
  repeatedPiecesReader(texts(chunk.column(`${as}_0`)), texts(chunk.column(`${as}_1`)), texts(chunk.column(`${as}_2`)))

/** Runs `sql` with positional `values` and hands each chunk of the answer to `read`, in order. */
export const readChunks = async (
  connection: DuckDBConnection,
  sql: string,
  values: ReadonlyArray<DuckDBValue>,
  read: (chunk: Chunk) => void
): Promise<void> => {
  const result = await executeOne(connection, sql, values, (statement) => statement.run())
  const names = result.deduplicatedColumnNames()
  const index = new Map(names.map((name, i) => [name, i]))
  const chunks = result.chunkCount
  for (let c = 0; c < chunks; c++) {
    const chunk = result.getChunk(c)
    // Each vector is built once per chunk (native calls), however often it is asked for.
    const vectors = new Map<number, DuckDBVector>()
    read({
      names,
      rowCount: chunk.rowCount, // a native call each time it is read
      column: (name) => {
        const i = index.get(name)
        if (i === undefined) throw new Error(`no column ${name} in the answer`)
        let vector = vectors.get(i)
        if (vector === undefined) vectors.set(i, vector = chunk.getColumnVector(i))
        return vector
      }
    })
  }
}

/** Runs `sql` with positional `values`; every row as an object keyed by (deduplicated) column name. */
export const readRows = async (
  connection: DuckDBConnection,
  sql: string,
  values: ReadonlyArray<DuckDBValue>
): Promise<Array<Row>> => {
  const rows: Array<Row> = []
  await readChunks(connection, sql, values, (chunk) => {
    const build = rowBuilder(chunk.names)
    const readers = chunk.names.map((name) => cellReader(chunk.column(name)))
    for (let r = 0; r < chunk.rowCount; r++) rows.push(build(readers, r))
  })
  return rows
}

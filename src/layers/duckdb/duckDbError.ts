/**
 * How a DuckDB call fails: a `DuckDbError` saying what the statement was for, its reason read from
 * DuckDB's message (a value past its type, a statement past the memory limit, anything else) or from
 * what a reader of its answer threw (`WrappedValue`, `NullColumn`).
 */
import { Schema } from "effect"

export class DuckDbError extends Schema.TaggedError<DuckDbError>()("DuckDbError", {
  /** What the statement was for, e.g. "write parquet". */
  purpose: Schema.String,
  /**
   * `Overflow`: a value past its type (a sum past int128), which readers refuse as a 400, not a 500.
   * `OutOfMemory`: the statement needed more than DuckDB's memory limit (K2_DUCKDB_MEMORY_LIMIT), a 503.
   * `NullColumn`: a reader found NULL in K2's required `column` (another engine dropped or nulled
   * it, ADR-2), which the query engine refuses as the MissingColumn it is (a 501), not a 500.
   */
  reason: Schema.Literals(["Overflow", "OutOfMemory", "NullColumn", "Failed"]),
  message: Schema.String,
  /** With reason `NullColumn`: the table's column found NULL. */
  column: Schema.optional(Schema.String)
}) {}

/** Thrown by a reader of an answer that finds a value DuckDB let wrap: a `DuckDbError` of reason `Overflow`. */
export class WrappedValue extends Error {}

/**
 * Thrown by a reader of an answer that finds NULL where K2's column `column` (the table's, which the
 * answer's `name` is of) is required: a `DuckDbError` of reason `NullColumn` naming `column`.
 */
export class NullColumn extends Error {
  readonly column: string
  constructor(column: string, name: string) {
    super(`query: NULL ${name}`)
    this.column = column
  }
}

/** A `DuckDbError` of reason `NullColumn`, with the column it names. */
export const isNullColumn = <E>(e: E): e is E & DuckDbError & { readonly reason: "NullColumn"; readonly column: string } =>
  e instanceof DuckDbError && e.reason === "NullColumn" && e.column !== undefined

/** DuckDB's words for a value past its type ("Out of Range Error: Overflow in addition of INT128 ..."). */
const DUCKDB_OVERFLOW = "Out of Range Error: Overflow"

/** DuckDB's words for a statement past its memory limit ("Out of Memory Error: could not allocate block ..."). */
const DUCKDB_OUT_OF_MEMORY = "Out of Memory Error"

export const duckDbError = (purpose: string, cause: unknown): DuckDbError => {
  const message = cause instanceof Error ? cause.message : String(cause)
  if (cause instanceof NullColumn) return new DuckDbError({ purpose, reason: "NullColumn", message, column: cause.column })
  const overflow = cause instanceof WrappedValue || message.includes(DUCKDB_OVERFLOW)
  const reason = overflow ? "Overflow" : message.includes(DUCKDB_OUT_OF_MEMORY) ? "OutOfMemory" : "Failed"
  return new DuckDbError({ purpose, reason, message })
}

/**
 * How a DuckDB call fails: a `DuckDbError` saying what the statement was for, its reason read from
 * DuckDB's message (a value past its type, a statement past the memory limit, anything else).
 */
import { Schema } from "effect"

export class DuckDbError extends Schema.TaggedError<DuckDbError>()("DuckDbError", {
  /** What the statement was for, e.g. "write parquet". */
  purpose: Schema.String,
  /**
   * `Overflow`: a value past its type (a sum past int128), which readers refuse as a 400, not a 500.
   * `OutOfMemory`: the statement needed more than DuckDB's memory limit (K2_DUCKDB_MEMORY_LIMIT), a 503.
   */
  reason: Schema.Literals(["Overflow", "OutOfMemory", "Failed"]),
  message: Schema.String
}) {}

/** Thrown by a reader of an answer that finds a value DuckDB let wrap: a `DuckDbError` of reason `Overflow`. */
export class WrappedValue extends Error {}

/** DuckDB's words for a value past its type ("Out of Range Error: Overflow in addition of INT128 ..."). */
const DUCKDB_OVERFLOW = "Out of Range Error: Overflow"

/** DuckDB's words for a statement past its memory limit ("Out of Memory Error: could not allocate block ..."). */
const DUCKDB_OUT_OF_MEMORY = "Out of Memory Error"

export const duckDbError = (purpose: string, cause: unknown): DuckDbError => {
  const message = cause instanceof Error ? cause.message : String(cause)
  const overflow = cause instanceof WrappedValue || message.includes(DUCKDB_OVERFLOW)
  const reason = overflow ? "Overflow" : message.includes(DUCKDB_OUT_OF_MEMORY) ? "OutOfMemory" : "Failed"
  return new DuckDbError({ purpose, reason, message })
}

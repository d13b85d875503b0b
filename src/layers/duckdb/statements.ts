/** Statements run on a borrowed connection: one prepared and bound, a stream ended, rows read as objects. */
import type { DuckDBConnection, DuckDBPreparedStatement, DuckDBType, DuckDBValue } from "@duckdb/node-api"
import { Effect } from "effect"
import type { DuckDbError } from "./duckDbError.ts"
import { attempt } from "./interruptibleCalls.ts"

/**
 * Executes one statement with positional `values`: prepared straight from its text, bound, run by
 * `execute`, destroyed. `connection.run(sql, values)` first splits the text into statements, one
 * more hop through the libuv thread pool: 0.4-1.0 ms a bars query here (docs/query.md).
 */
export const executeOne = async <A>(
  connection: DuckDBConnection,
  sql: string,
  values: ReadonlyArray<DuckDBValue>,
  execute: (statement: DuckDBPreparedStatement) => Promise<A>,
  types?: ReadonlyArray<DuckDBType>
): Promise<A> => {
  const statement = await connection.prepare(sql)
  try {
    statement.bind([...values], types === undefined ? undefined : [...types])
    return await execute(statement)
  } finally {
    statement.destroySync()
  }
}

/**
 * Ends the streamed statement `connection` may still hold open. DuckDB keeps a streamed
 * statement's state (a sorted replay window: tens to hundreds of MB) until the connection's next
 * statement, and @duckdb/node-api cannot close a result: a statement of nothing ends it, so a
 * stream left early does not stay held by a pooled connection that may idle for hours.
 */
export const endStream = (connection: DuckDBConnection): Effect.Effect<void> =>
  Effect.ignore(attempt("end stream", () => connection.run("SELECT NULL")))

/** Runs SQL with optional positional parameters and returns the rows as objects. */
export const query = (
  connection: DuckDBConnection,
  purpose: string,
  sql: string,
  values?: ReadonlyArray<DuckDBValue>
): Effect.Effect<ReadonlyArray<Record<string, DuckDBValue>>, DuckDbError> =>
  attempt(
    purpose,
    async () =>
      (values === undefined ? await connection.runAndReadAll(sql) : await executeOne(connection, sql, values, (s) => s.runAndReadAll()))
        .getRowObjects(),
    () => connection.interrupt()
  )

/** How a SQL sandbox run (sql.ts) fails: refused, failed, over its time, not started, or kept waiting. */
import { Schema } from "effect"

export class SqlRefused extends Schema.TaggedError<SqlRefused>()("SqlRefused", { detail: Schema.String }) {
  override get message() {
    return `SQL refused: ${this.detail}`
  }
}

export class SqlFailed extends Schema.TaggedError<SqlFailed>()("SqlFailed", { detail: Schema.String }) {
  override get message() {
    return `SQL failed: ${this.detail}`
  }
}

export class SqlTimeout extends Schema.TaggedError<SqlTimeout>()("SqlTimeout", { ms: Schema.Number }) {
  override get message() {
    return `SQL took longer than ${this.ms} ms`
  }
}

/**
 * The sandbox's worker process could not be started (no process could be made, the runtime is
 * missing, it was not ready in time): the server's trouble, not the statement's, and logged as such.
 */
export class SqlUnavailable extends Schema.TaggedError<SqlUnavailable>()("SqlUnavailable", { detail: Schema.String }) {
  override get message() {
    return `the SQL sandbox could not start (${this.detail})`
  }
}

/**
 * Both sandbox slots (SQL, Parquet exports) stayed taken for as long as the run may take: come back
 * later. `perCaller`: refused at once, the caller having that many runs of its own running or waiting.
 */
export class SqlBusy extends Schema.TaggedError<SqlBusy>()("SqlBusy", { ms: Schema.Number, perCaller: Schema.optional(Schema.Number) }) {
  override get message() {
    return this.perCaller !== undefined
      ? `this caller (its key, or its address without one) has ${this.perCaller} SQL statements and Parquet exports running or waiting for the sandbox, as many as it may; retry when one ends`
      : `the SQL sandbox (SQL and Parquet exports, two at once) stayed busy for ${this.ms} ms; retry later`
  }
}

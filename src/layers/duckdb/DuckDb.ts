/**
 * One in-memory DuckDB per process (`compact`: one per run), shared through a small pool of connections.
 *
 * Every query of `@duckdb/node-api` runs on a libuv thread-pool thread, which the
 * file system and DNS share: the pool stays below the thread-pool size so one thread is always
 * left for them (DESIGN.md "Pitfalls"). The SQL sandbox runs in worker processes of its own (ADR-35).
 *
 * The layer over `openInstance.ts` (the instance and its spill directory), `connectionCount.ts`,
 * `connectionPool.ts`, `connectionTurns.ts` (fair turns between callers), `connectionBorrow.ts`
 * (`withConnection`), `connectionWaits.ts`, `interruptibleCalls.ts`, `statements.ts`,
 * `sessionTimeSettings.ts`, `duckDbError.ts`, `duckDbOptions.ts` (K2_DUCKDB_*), `memoryLimit.ts`
 * and `containerSizing.ts`.
 */
import type { DuckDBConnection } from "@duckdb/node-api"
import { Config, Context, Effect, Layer } from "effect"
import { connectionBorrow } from "./connectionBorrow.ts"
import { connectionCount } from "./connectionCount.ts"
import { connectionPool } from "./connectionPool.ts"
import { containerSettings } from "./containerSizing.ts"
import type { DuckDbError } from "./duckDbError.ts"
import { duckDbConfig, type DuckDbOptions } from "./duckDbOptions.ts"
import { openInstance } from "./openInstance.ts"

export { maxConnections } from "./connectionCount.ts"
export { CurrentConnectionOwner } from "./connectionTurns.ts"
export { ConnectionWaits, CurrentConnectionWaits } from "./connectionWaits.ts"
export { CgroupFiles, sizedForContainer } from "./containerSizing.ts"
export { DuckDbError, isNullColumn, NullColumn, WrappedValue } from "./duckDbError.ts"
export type { DuckDbOptions } from "./duckDbOptions.ts"
export { attempt, interruptibly } from "./interruptibleCalls.ts"
export { useUtcGregorian } from "./sessionTimeSettings.ts"
export { endStream, executeOne, query } from "./statements.ts"

const make = Effect.fnUntraced(function*(options: DuckDbOptions) {
  const size = yield* connectionCount(options.connections)
  const instance = yield* openInstance(options)
  const pool = yield* connectionPool(instance, size)
  const withConnection = yield* connectionBorrow(pool, size)
  return DuckDb.of({ size, withConnection })
})

export class DuckDb extends Context.Service<DuckDb, {
  /** Number of pooled connections: the most DuckDB statements that run at once. */
  readonly size: number
  /**
   * Borrows a connection for the duration of `use`; waits while all are borrowed, in line with the
   * other waiters of its `CurrentConnectionOwner` (first come, first served), the owners taking turns.
   */
  readonly withConnection: <A, E, R>(
    use: (connection: DuckDBConnection) => Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | DuckDbError, R>
}>()("k2/duckdb/DuckDb") {
  static readonly layerWith = (options: DuckDbOptions): Layer.Layer<DuckDb, DuckDbError> =>
    Layer.effect(DuckDb, make(options))

  /**
   * Configured by K2_DUCKDB_CONNECTIONS (default 2, capped as `connections` is) and K2_DUCKDB_THREADS
   * (default one per core, at most 1024), each an integer of at least 1, and K2_DUCKDB_MEMORY_LIMIT
   * (default DuckDB's, at least 64MiB): the settings given (`duckDbConfig`). `settings` adds the
   * defaults of a container.
   */
  static readonly config: Config.Config<DuckDbOptions> = duckDbConfig

  /**
   * The options of `config`, what it leaves unset sized for the container the process runs in
   * (`sizedForContainer`), logged when any is.
   */
  static readonly settings: Effect.Effect<DuckDbOptions, Config.ConfigError> = containerSettings

  /** `layerWith` the options of `settings`. */
  static readonly layerConfig: Layer.Layer<DuckDb, DuckDbError | Config.ConfigError> = Layer.unwrap(
    Effect.map(DuckDb.settings, DuckDb.layerWith)
  )
}

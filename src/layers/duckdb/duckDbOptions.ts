/** What a DuckDb layer is opened with, and those options as K2_DUCKDB_* set them (`duckDbConfig`). */
import { Config, Option } from "effect"
import { atLeastOne, integer } from "../settings.ts"
import { memoryAmount } from "./memoryLimit.ts"

export interface DuckDbOptions {
  /** Concurrent connections; default 2, capped at the libuv thread-pool size minus one. */
  readonly connections?: number | undefined
  /** DuckDB worker threads; DuckDB's default (one per core, or its cgroup's CPU quota) when absent. */
  readonly threads?: number | undefined
  /**
   * DuckDB's memory limit, as DuckDB writes it ("1GB", "512MiB"); DuckDB's default (80 % of RAM,
   * or of its cgroup's limit) when absent. Sorts past it spill to disk: compacting a day of 1M
   * quotes peaked at 955 MB of RSS unlimited, 632 MB at "256MB" (docs/operations.md).
   */
  readonly memoryLimit?: string | undefined
}

/**
 * The most DuckDB threads: DuckDB starts them all when it opens (100,000 took 19 s) and fails past
 * 2^31 with an internal error; no machine K2 runs on has this many cores.
 */
const MAX_THREADS = 1024

/**
 * Configured by K2_DUCKDB_CONNECTIONS (default 2, capped as `connections` is) and K2_DUCKDB_THREADS
 * (default one per core, at most MAX_THREADS), each an integer of at least 1, and K2_DUCKDB_MEMORY_LIMIT
 * (default DuckDB's, at least MIN_MEMORY_LIMIT_BYTES):
 * the settings given. `containerSettings` adds the defaults of a container.
 */
export const duckDbConfig: Config.Config<DuckDbOptions> = Config.all({
  // Each checked (DuckDB refuses 0 threads only as "Failed to set config"; the pool made -1 connections 1).
  connections: atLeastOne("K2_DUCKDB_CONNECTIONS").pipe(Config.withDefault(2)),
  threads: Config.option(integer("K2_DUCKDB_THREADS", { min: 1, max: MAX_THREADS })).pipe(Config.map(Option.getOrUndefined)),
  memoryLimit: Config.option(memoryAmount("K2_DUCKDB_MEMORY_LIMIT")).pipe(Config.map(Option.getOrUndefined))
})

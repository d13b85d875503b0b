/**
 * The process's in-memory DuckDB instance, opened with its own spill directory (the stale ones of
 * instances that ended without closing swept first) and closed with it removed.
 */
import * as fs from "node:fs"
import { DuckDBInstance } from "@duckdb/node-api"
import { Clock, Effect } from "effect"
import { attempt } from "./interruptibleCalls.ts"
import type { DuckDbOptions } from "./duckDbOptions.ts"
import { spillDirectory, STALE_SPILL_MS, sweepSpillDirectories } from "./spillDirectory.ts"

export const openInstance = Effect.fnUntraced(function*(options: DuckDbOptions) {
  const spillTo = spillDirectory()
  const swept = sweepSpillDirectories((yield* Clock.currentTimeMillis) - STALE_SPILL_MS)
  if (swept.length > 0) yield* Effect.logInfo(`deleted ${swept.length} spill directories of DuckDB instances that ended without closing`)
  return yield* Effect.acquireRelease(
    attempt("open database", () =>
      DuckDBInstance.create(":memory:", {
        // Its own, not DuckDB's `.tmp` in the working directory (spillDirectory.ts).
        temp_directory: spillTo,
        // Extensions cannot be downloaded here; never try (only built-ins are used).
        autoinstall_known_extensions: "false",
        autoload_known_extensions: "false",
        // DuckDB's cache of the file blocks it read kept 12-20 KiB of every Parquet file a query
        // touched, deleted ones too, until its memory limit (80 % of RAM): a serve reading the files
        // ingestion commits (a few a second) grew by up to gigabytes a day. The files are local:
        // the OS caches them.
        enable_external_file_cache: "false",
        ...(options.threads === undefined ? {} : { threads: String(options.threads) }),
        ...(options.memoryLimit === undefined ? {} : { memory_limit: options.memoryLimit })
      })
    ),
    (instance) =>
      Effect.sync(() => {
        instance.closeSync()
        fs.rmSync(spillTo, { recursive: true, force: true })
      })
  )
})

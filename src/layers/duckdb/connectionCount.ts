/**
 * How many connections the pool holds: the ones asked for, below the libuv thread-pool size, which
 * every DuckDB query runs on and the file system and DNS share.
 */
import { Effect } from "effect"

/** libuv's default thread-pool size is 4 unless UV_THREADPOOL_SIZE says otherwise. */
const uvPoolSize = (): number => Number(process.env["UV_THREADPOOL_SIZE"]) || 4

/** One pool thread stays free for file I/O. */
export const maxConnections = (): number => Math.max(1, uvPoolSize() - 1)

/** `requested` (default 2) as a whole number from 1 to `maxConnections()`, a warning saying why when it is not. */
export const connectionCount = Effect.fnUntraced(function*(connections: number | undefined) {
  const requested = connections ?? 2
  const size = Math.min(Math.max(1, Math.floor(requested)), maxConnections())
  if (size !== requested) {
    const why = requested < 1
      ? "at least 1"
      : requested <= maxConnections()
      ? "a whole number"
      : `at most the libuv pool's threads less one (UV_THREADPOOL_SIZE=${uvPoolSize()}; set it higher for more)`
    yield* Effect.logWarning(`DuckDB connections: ${requested} requested, using ${size}: ${why}`)
  }
  return size
})

/**
 * The DuckDB settings K2_DUCKDB_* leave unset, sized for the container the process runs in (its
 * cgroup's memory limit and CPU quota, when below the host's).
 */
import * as os from "node:os"
import { type Config, Context, Effect } from "effect"
import { type ContainerLimits, containerLimits, type ReadFile, readIfPresent } from "../containerLimits.ts"
import { duckDbConfig, type DuckDbOptions } from "./duckDbOptions.ts"
import { MIN_MEMORY_LIMIT_BYTES } from "./memoryLimit.ts"

/**
 * The share of a container's memory DuckDB is given by default. DuckDB takes 80 % of its cgroup's
 * limit as if it were alone in it, but the rest of the process shares the limit (V8's heap, ingest's
 * buffers, DuckDB's allocations outside its buffer pool), and serve's SQL sandbox workers share the
 * pod. In a 1 GiB cgroup, a process holding 300 MB besides was killed by the kernel at DuckDB's
 * 819 MiB while at half it spilled and answered (docs/operations.md "In a container", ADR-63).
 */
const CONTAINER_MEMORY_SHARE = 0.5

/** Where the cgroup files are read from: the machine's; tests give fake ones. */
export const CgroupFiles = Context.Reference<ReadFile>("k2/duckdb/CgroupFiles", { defaultValue: () => readIfPresent })

/**
 * `explicit` (K2_DUCKDB_*) with what it leaves unset sized for a container whose limits are below
 * the host's: a memory limit of CONTAINER_MEMORY_SHARE of the container's, and one thread per CPU of
 * its quota (rounded up, as DuckDB does, but never more than the cores). `sized` says what was
 * derived, for the start's log line; empty when nothing was.
 */
export const sizedForContainer = (
  explicit: DuckDbOptions,
  limits: ContainerLimits,
  host: { readonly memoryBytes: number; readonly cores: number }
): { readonly options: DuckDbOptions; readonly sized: ReadonlyArray<string> } => {
  const sized: Array<string> = []
  let { memoryLimit, threads } = explicit
  const mib = (bytes: number) => Math.floor(bytes / 2 ** 20)
  if (memoryLimit === undefined && limits.memoryBytes !== undefined && limits.memoryBytes < host.memoryBytes) {
    const share = mib(limits.memoryBytes * CONTAINER_MEMORY_SHARE)
    // Not below what K2_DUCKDB_MEMORY_LIMIT may be set to: DuckDB would fail every flush there.
    const floor = mib(MIN_MEMORY_LIMIT_BYTES)
    memoryLimit = `${Math.max(floor, share)}MiB`
    const why = share < floor
      ? `the least K2 gives DuckDB, raised from ${share} MiB, ${CONTAINER_MEMORY_SHARE * 100} % of`
      : `${CONTAINER_MEMORY_SHARE * 100} % of`
    sized.push(`memory limit ${memoryLimit} (${why} the cgroup's ${mib(limits.memoryBytes)} MiB; K2_DUCKDB_MEMORY_LIMIT overrides)`)
  }
  if (threads === undefined && limits.cpus !== undefined && limits.cpus < host.cores) {
    threads = Math.max(1, Math.min(host.cores, Math.ceil(limits.cpus)))
    sized.push(`${threads} thread${threads === 1 ? "" : "s"} (the cgroup's CPU quota, ${limits.cpus}; K2_DUCKDB_THREADS overrides)`)
  }
  return { options: { ...explicit, memoryLimit, threads }, sized }
}

/**
 * The options of `duckDbConfig`, what it leaves unset sized for the container the process runs in
 * (`sizedForContainer`), logged when any is.
 */
export const containerSettings: Effect.Effect<DuckDbOptions, Config.ConfigError> = Effect.gen(function*() {
  const explicit = yield* duckDbConfig
  const read = yield* CgroupFiles
  const { options, sized } = sizedForContainer(explicit, containerLimits(read), {
    memoryBytes: os.totalmem(),
    cores: os.availableParallelism()
  })
  if (sized.length > 0) yield* Effect.logInfo(`DuckDB sized for its container: ${sized.join(", ")}`)
  return options
})

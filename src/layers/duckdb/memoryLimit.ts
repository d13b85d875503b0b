/**
 * K2_DUCKDB_MEMORY_LIMIT read as DuckDB reads an amount of memory, held between the least K2 gives
 * DuckDB and the most DuckDB holds, DuckDB's "no limit" refused.
 */
import { Config, Schema } from "effect"

/**
 * The units DuckDB's `memory_limit` takes (any case), each with the bytes it reads it as and the
 * form K2 passes on: K, KB, kilobyte(s) and the like are powers of 1000 (`512M` is 512 MB, 488.3
 * MiB), KiB and the like of 1024; B, byte(s) are bytes. DuckDB takes no other (`1P`: "Failed to set config").
 */
const UNITS: ReadonlyArray<readonly [ReadonlyArray<string>, number, string]> = [
  [["b", "byte", "bytes"], 1, "B"],
  [["k", "kb", "kilobyte", "kilobytes"], 1e3, "KB"],
  [["m", "mb", "megabyte", "megabytes"], 1e6, "MB"],
  [["g", "gb", "gigabyte", "gigabytes"], 1e9, "GB"],
  [["t", "tb", "terabyte", "terabytes"], 1e12, "TB"],
  [["kib"], 2 ** 10, "KiB"],
  [["mib"], 2 ** 20, "MiB"],
  [["gib"], 2 ** 30, "GiB"],
  [["tib"], 2 ** 40, "TiB"]
]
const UNIT_OF: ReadonlyMap<string, { readonly bytes: number; readonly written: string }> = new Map(
  UNITS.flatMap(([names, bytes, written]) => names.map((name) => [name, { bytes, written }] as const))
)

/**
 * The least memory limit K2 gives DuckDB. DuckDB takes any (`1MB`), and ingest's flushes then
 * failed on its "Out of Memory Error" (the embedded default exited 1 with DuckDB's advice): a flush
 * of a default batch (--flush-rows 15000) failed at 12–32 MiB, varying run to run and with the
 * threads, and passed every run from 36 MiB; 64 MiB is about twice the worst failure seen.
 */
export const MIN_MEMORY_LIMIT_BYTES = 64 * 2 ** 20

/**
 * An amount of memory as DuckDB reads it: a number (`512`, `0.5`, `.5`, `1e9`) and a unit of
 * UNIT_OF, a space between them or not, of at least MIN_MEMORY_LIMIT_BYTES; passed on with the unit
 * written one way (`512 m` is `512MB`). Not DuckDB's `-1`/`none`: see `NO_LIMIT_REFUSED`. Anything
 * else is a ConfigError naming the variable and showing the value.
 */
export const memoryAmount = (name: string) =>
  Config.schema(
    Schema.String.check(Schema.makeFilter((s: string) => {
      if (/^(-|none$|null$)/i.test(s.trim())) return `${JSON.stringify(s)}: ${NO_LIMIT_REFUSED}`
      const amount = parseAmount(s)
      if (amount === undefined) return `${JSON.stringify(s)} is not an amount of memory such as 512MB, 512M or 2GiB`
      if (amount.bytes >= MAX_MEMORY_LIMIT_BYTES) return `${JSON.stringify(s)} is 2^64 bytes or more, past the most DuckDB holds (it read 2^64 B as a limit of 0 bytes)`
      return amount.bytes >= MIN_MEMORY_LIMIT_BYTES ||
        `${JSON.stringify(s)} is below ${MIN_MEMORY_LIMIT_BYTES / 2 ** 20}MiB, the least K2 gives DuckDB (ingest's flushes failed at up to 32MiB)`
    })),
    name
  ).pipe(Config.map((s) => parseAmount(s)!.written))

/** `s` as an amount DuckDB reads (see `memoryAmount`): its bytes and how K2 writes it, or undefined. */
const parseAmount = (s: string): { readonly bytes: number; readonly written: string } | undefined => {
  const amount = /^(\d+(?:\.\d*)?|\.\d+)(e\d+)?\s*([a-z]+)$/i.exec(s.trim())
  const unit = amount === null ? undefined : UNIT_OF.get(amount[3]!.toLowerCase())
  if (amount === null || unit === undefined) return undefined
  // Infinity past a double (`1e400GB`): refused as past MAX_MEMORY_LIMIT_BYTES.
  return { bytes: Number(`${amount[1]}${amount[2] ?? ""}`) * unit.bytes, written: `${amount[1]}${amount[2] ?? ""}${unit.written}` }
}

/**
 * The bytes past the most DuckDB holds: it reads an amount as a double and casts it to 64 bits,
 * and read 2^64 B (`18446744073709551616B`, `18446744073.709551616GB`) as a limit of 0 bytes (every
 * query an Out of Memory Error) and failed to open past it ("Failed to set config"). The largest
 * double below it, 18446744073709549568B, reads back as itself (16383.9 PiB).
 */
const MAX_MEMORY_LIMIT_BYTES = 2 ** 64

/**
 * Why K2_DUCKDB_MEMORY_LIMIT takes no `-1` or `none`. DuckDB reads them (and any value starting
 * with `-`) as no limit in a `SET`, and as its own default (80 % of RAM, or of its cgroup's limit)
 * when the database opens with it, as K2's does. Neither fits beside the rest of the process (V8's
 * heap, ingest's buffers: peak RSS 411–496 MB with a backlog) in a container, where DuckDB's 80 %
 * had the kernel kill the process (ADR-63); unset, K2 sizes it for the container.
 */
const NO_LIMIT_REFUSED = "K2 gives DuckDB no unlimited memory (DuckDB's -1 and none): leave K2_DUCKDB_MEMORY_LIMIT unset for DuckDB's default (half a container's limit in a container), or give an amount such as 8GB"

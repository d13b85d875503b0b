/**
 * The memory and CPUs this process may use when a container or a cgroup limits it (a Kubernetes
 * pod's `resources.limits`, `docker run -m 1g --cpus 1`, a systemd unit's MemoryMax): what the
 * kernel enforces, which `os.totalmem()` and `os.availableParallelism()` do not show.
 *
 * Read from cgroup v2 (`memory.max`, `cpu.max`) or v1 (`memory.limit_in_bytes`,
 * `cpu.cfs_quota_us`/`cpu.cfs_period_us`), in the process's own cgroup (`/proc/self/cgroup`) and
 * each of its ancestors up to the mount, the tightest one winning: a pod's limit sits on the pod's
 * cgroup, above its container's; a container with its cgroup mounted at the root
 * (Docker on v1, a private cgroup namespace) sees its limit at the mount's top.
 */
import * as fs from "node:fs"

export interface ContainerLimits {
  /** Bytes of memory past which the kernel kills the process (the cgroup's); undefined when unlimited. */
  readonly memoryBytes: number | undefined
  /** CPUs' worth of time a period the cgroup may use (1.5: one and a half); undefined when unlimited. */
  readonly cpus: number | undefined
}

/** A file's text, or undefined where there is none (or it cannot be read). */
export type ReadFile = (path: string) => string | undefined

export const readIfPresent: ReadFile = (file) => {
  try {
    return fs.readFileSync(file, "utf8")
  } catch {
    return undefined
  }
}

const ROOT = "/sys/fs/cgroup"

/** cgroup v1's "no limit": the largest page-aligned int64 (9223372036854771712), or near it. */
const V1_UNLIMITED = 2 ** 62

interface Membership {
  /** The controllers of a v1 hierarchy ("memory", "cpu,cpuacct"); empty for v2's unified one. */
  readonly controllers: ReadonlyArray<string>
  readonly path: string
}

/** `/proc/self/cgroup`'s lines: `hierarchy-id:controllers:path` (v2: `0::/path`). */
const memberships = (text: string): ReadonlyArray<Membership> =>
  text.split("\n").flatMap((line) => {
    const match = /^\d+:([^:]*):(.*)$/.exec(line.trim())
    return match === null ? [] : [{ controllers: match[1]!.split(",").filter((c) => c !== ""), path: match[2]! }]
  })

/** `mount` joined with `path` and each of its ancestors, the mount itself last. */
const upwards = (mount: string, cgroupPath: string): ReadonlyArray<string> => {
  const parts = cgroupPath.split("/").filter((p) => p !== "" && p !== "." && p !== "..")
  return Array.from({ length: parts.length + 1 }, (_, i) => [mount, ...parts.slice(0, parts.length - i)].join("/"))
}

const smallest = (values: ReadonlyArray<number | undefined>): number | undefined => {
  const found = values.filter((v): v is number => v !== undefined && Number.isFinite(v) && v > 0)
  return found.length === 0 ? undefined : Math.min(...found)
}

/** A memory limit file's bytes; undefined for "max", v1's unlimited value, or text that is not a number. */
const memoryOf = (text: string | undefined): number | undefined => {
  const value = text?.trim()
  if (value === undefined || !/^\d+$/.test(value)) return undefined
  const bytes = Number(value)
  return bytes >= V1_UNLIMITED ? undefined : bytes
}

/** v2's `cpu.max`, "quota period" ("max 100000": unlimited), as CPUs. */
const cpusOfV2 = (text: string | undefined): number | undefined => {
  const match = /^(\d+)\s+(\d+)$/.exec(text?.trim() ?? "")
  return match === null || Number(match[2]) === 0 ? undefined : Number(match[1]) / Number(match[2])
}

/** v1's quota (-1: unlimited) over its period, as CPUs. */
const cpusOfV1 = (quota: string | undefined, period: string | undefined): number | undefined => {
  const q = Number(quota?.trim())
  const p = Number(period?.trim())
  return Number.isInteger(q) && q > 0 && Number.isInteger(p) && p > 0 ? q / p : undefined
}

/**
 * The limits of the cgroups this process is in, read through `read` (tests give it fake files).
 * Where a controller is in both versions' hierarchies (it is in one only), the tighter value is taken.
 */
export const containerLimits = (read: ReadFile = readIfPresent): ContainerLimits => {
  const all = memberships(read("/proc/self/cgroup") ?? "")
  const memory: Array<number | undefined> = []
  const cpus: Array<number | undefined> = []
  for (const { controllers, path } of all) {
    if (controllers.length === 0) {
      for (const dir of upwards(ROOT, path)) {
        memory.push(memoryOf(read(`${dir}/memory.max`)))
        cpus.push(cpusOfV2(read(`${dir}/cpu.max`)))
      }
    }
    if (controllers.includes("memory")) {
      for (const dir of upwards(`${ROOT}/memory`, path)) memory.push(memoryOf(read(`${dir}/memory.limit_in_bytes`)))
    }
    if (controllers.includes("cpu")) {
      // Mounted as `cpu` alone or co-mounted as `cpu,cpuacct` (with `cpu` a link to it, or not).
      for (const mount of [`${ROOT}/cpu`, `${ROOT}/${controllers.join(",")}`]) {
        for (const dir of upwards(mount, path)) cpus.push(cpusOfV1(read(`${dir}/cpu.cfs_quota_us`), read(`${dir}/cpu.cfs_period_us`)))
      }
    }
  }
  return { memoryBytes: smallest(memory), cpus: smallest(cpus) }
}

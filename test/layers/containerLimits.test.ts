import { assert, describe, it } from "@effect/vitest"
import { containerLimits } from "../../src/layers/containerLimits.ts"
import { sizedForContainer } from "../../src/layers/duckdb/DuckDb.ts"

const GiB = 1024 ** 3

/** A machine of only these files. */
const files = (entries: Record<string, string>) => (file: string) => entries[file]

/** This machine's own layout: cgroup v1 controllers, v2 mounted for none of them (hybrid). */
const HYBRID_SELF = "9:name=systemd:/\n4:memory:/k2-test\n1:cpu:/k2-test\n0::/\n"

describe("containerLimits", () => {
  it("reads cgroup v2's memory.max and cpu.max where a private cgroup namespace puts them (a Kubernetes pod)", () => {
    const limits = containerLimits(files({
      "/proc/self/cgroup": "0::/\n",
      "/sys/fs/cgroup/memory.max": "1073741824\n",
      "/sys/fs/cgroup/cpu.max": "100000 100000\n"
    }))
    assert.deepStrictEqual(limits, { memoryBytes: GiB, cpus: 1 })
  })

  it("takes the tightest limit of the process's cgroup and its ancestors (a pod's limit above its container's)", () => {
    const limits = containerLimits(files({
      "/proc/self/cgroup": "0::/kubepods/pod1/container1\n",
      "/sys/fs/cgroup/kubepods/pod1/container1/memory.max": "max\n",
      "/sys/fs/cgroup/kubepods/pod1/memory.max": String(2 * GiB),
      "/sys/fs/cgroup/kubepods/memory.max": String(20 * GiB),
      "/sys/fs/cgroup/kubepods/pod1/container1/cpu.max": "max 100000\n",
      "/sys/fs/cgroup/kubepods/pod1/cpu.max": "50000 100000\n"
    }))
    assert.deepStrictEqual(limits, { memoryBytes: 2 * GiB, cpus: 0.5 })
  })

  it("is unlimited where every limit is (v2 max, v1's largest int64, a quota of -1) or there is no cgroup at all", () => {
    assert.deepStrictEqual(
      containerLimits(files({ "/proc/self/cgroup": "0::/\n", "/sys/fs/cgroup/memory.max": "max\n", "/sys/fs/cgroup/cpu.max": "max 100000\n" })),
      { memoryBytes: undefined, cpus: undefined }
    )
    assert.deepStrictEqual(
      containerLimits(files({
        "/proc/self/cgroup": HYBRID_SELF,
        "/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n",
        "/sys/fs/cgroup/cpu/cpu.cfs_quota_us": "-1\n",
        "/sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000\n"
      })),
      { memoryBytes: undefined, cpus: undefined }
    )
    assert.deepStrictEqual(containerLimits(files({})), { memoryBytes: undefined, cpus: undefined })
  })

  it("reads cgroup v1's memory.limit_in_bytes and CFS quota in the process's own cgroup", () => {
    const limits = containerLimits(files({
      "/proc/self/cgroup": HYBRID_SELF,
      "/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n",
      "/sys/fs/cgroup/memory/k2-test/memory.limit_in_bytes": "1073741824\n",
      "/sys/fs/cgroup/cpu/k2-test/cpu.cfs_quota_us": "150000\n",
      "/sys/fs/cgroup/cpu/k2-test/cpu.cfs_period_us": "100000\n"
    }))
    assert.deepStrictEqual(limits, { memoryBytes: GiB, cpus: 1.5 })
  })

  it("finds v1's limits at the mount's top where the container's cgroup is mounted there (Docker on v1), cpu co-mounted with cpuacct", () => {
    const limits = containerLimits(files({
      "/proc/self/cgroup": "5:memory:/docker/abc123\n3:cpu,cpuacct:/docker/abc123\n",
      "/sys/fs/cgroup/memory/memory.limit_in_bytes": "536870912\n",
      "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us": "200000\n",
      "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000\n"
    }))
    assert.deepStrictEqual(limits, { memoryBytes: GiB / 2, cpus: 2 })
  })

  it("ignores what is not a limit: text that is not a number, a period of 0", () => {
    const limits = containerLimits(files({
      "/proc/self/cgroup": "0::/\n",
      "/sys/fs/cgroup/memory.max": "lots\n",
      "/sys/fs/cgroup/cpu.max": "100000 0\n"
    }))
    assert.deepStrictEqual(limits, { memoryBytes: undefined, cpus: undefined })
  })
})

describe("sizedForContainer", () => {
  const host = { memoryBytes: 24 * GiB, cores: 2 }

  it("gives DuckDB half of a 1 GiB pod and a thread for its one CPU, saying so", () => {
    const { options, sized } = sizedForContainer({ connections: 2 }, { memoryBytes: GiB, cpus: 1 }, host)
    assert.deepStrictEqual(options, { connections: 2, memoryLimit: "512MiB", threads: 1 })
    assert.strictEqual(sized.length, 2)
    assert.include(sized[0]!, "K2_DUCKDB_MEMORY_LIMIT overrides")
    assert.include(sized[1]!, "K2_DUCKDB_THREADS overrides")
  })

  it("leaves what K2_DUCKDB_* set as it is", () => {
    const { options, sized } = sizedForContainer({ memoryLimit: "800MB", threads: 2 }, { memoryBytes: GiB, cpus: 1 }, host)
    assert.deepStrictEqual(options, { memoryLimit: "800MB", threads: 2 })
    assert.deepStrictEqual(sized, [])
  })

  it("changes nothing without a limit, or with one no tighter than the host", () => {
    for (const limits of [{ memoryBytes: undefined, cpus: undefined }, { memoryBytes: 32 * GiB, cpus: 2 }]) {
      const { options, sized } = sizedForContainer({}, limits, host)
      assert.deepStrictEqual(options, { memoryLimit: undefined, threads: undefined })
      assert.deepStrictEqual(sized, [])
    }
  })

  it("gives a small pod's DuckDB no less than K2_DUCKDB_MEMORY_LIMIT may be set to (flushes failed at up to 32 MiB)", () => {
    const { options, sized } = sizedForContainer({}, { memoryBytes: 100 * 2 ** 20, cpus: undefined }, host)
    assert.strictEqual(options.memoryLimit, "64MiB")
    assert.include(sized[0]!, "memory limit 64MiB (the least K2 gives DuckDB, raised from 50 MiB, 50 % of the cgroup's 100 MiB")
  })

  it("rounds a fraction of a CPU up to a thread", () => {
    assert.strictEqual(sizedForContainer({}, { memoryBytes: undefined, cpus: 0.5 }, host).options.threads, 1)
    assert.strictEqual(sizedForContainer({}, { memoryBytes: undefined, cpus: 1.5 }, { ...host, cores: 8 }).options.threads, 2)
  })
})

/**
 * The whole machine's CPU time (/proc/stat): the broker runs on the same cores as the client and
 * ingest, so what a message costs the machine counts all of them.
 */
import * as fs from "node:fs"
import * as os from "node:os"

/** CPU time so far in USER_HZ ticks (100 a second): busy (user, nice, system, irq, softirq) and all. */
export interface Ticks {
  readonly busy: number
  readonly all: number
}

export const machineTicks = (): Ticks => {
  const n = fs.readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!.trim().split(/\s+/).slice(1, 9).map(Number)
  const [user, nice, system, idle, iowait, irq, softirq, steal] = n as [number, number, number, number, number, number, number, number]
  return { busy: user + nice + system + irq + softirq, all: user + nice + system + idle + iowait + irq + softirq + steal }
}

export interface MachineCpu {
  /** Busy CPU time per message, µs. */
  readonly usPerMessage: number
  /** Cores busy on average. */
  readonly busyCores: number
}

export const cpuBetween = (a: Ticks, b: Ticks, messages: number): MachineCpu => ({
  usPerMessage: Number(((((b.busy - a.busy) / 100) * 1e6) / messages).toFixed(1)),
  busyCores: Number((((b.busy - a.busy) / Math.max(1, b.all - a.all)) * os.cpus().length).toFixed(2))
})

/**
 * `npm run produce` says how far it is also when stderr is not a terminal (a log file, docker
 * logs, CI): a plain line every few seconds, as ingest and replay do. Its rate is of the events
 * (not the instruments sent first) over the last seconds, so `--rate N` reads about N/s, and its
 * ETA is bounded by what is left of `--duration`.
 */
import { afterEach, assert, describe, it, vi } from "@effect/vitest"
import { Effect } from "effect"
import { RecentRate } from "../../src/programs/cli/progress.ts"
import { progressBar, progressReporter } from "../../src/programs/produce.ts"

/** The lines written while `run` runs, as on a terminal (every line, in place). */
const onTerminal = <A, E>(run: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const written: Array<string> = []
    const tty = process.stderr.isTTY
    process.stderr.isTTY = true
    vi.spyOn(process.stderr, "write").mockImplementation((chunk) => (written.push(String(chunk).slice(1).trimEnd()), true))
    yield* run.pipe(Effect.ensuring(Effect.sync(() => {
      vi.restoreAllMocks()
      process.stderr.isTTY = tty
    })))
    return written
  })

describe("npm run produce, progress", () => {
  afterEach(() => {
    vi.restoreAllMocks()
  })

  it.effect("off a terminal, a line every few seconds (there was none until the end)", () =>
    Effect.gen(function*() {
      const written: Array<string> = []
      // The test's stderr is a pipe (isTTY unset), as in a log file or CI.
      vi.spyOn(process.stderr, "write").mockImplementation((chunk) => {
        written.push(String(chunk))
        return true
      })
      const rates = new RecentRate()
      for (const elapsedMs of [200, 1_000, 5_000, 6_000, 10_000]) yield* progressBar(elapsedMs * 10, elapsedMs, rates, { total: 200_000 })
      vi.restoreAllMocks()
      assert.deepStrictEqual(written.map((l) => l.split(",")[0]), ["50000 events", "100000 events"])
      for (const line of written) assert.isTrue(line.endsWith("\n"), JSON.stringify(line))
    }))

  it.effect("--rate 1 reads 1/s: the 20 instruments sent first are not events (it read 3/s after 10 s)", () =>
    Effect.gen(function*() {
      const report = progressReporter({ total: 10_000 })
      const written = yield* onTerminal(Effect.gen(function*() {
        // An event acknowledged a second, after the instruments.
        for (let s = 1; s <= 10; s++) yield* report({ events: 20 + s, instruments: 20, elapsedMs: s * 1_000, acknowledgedAt: s * 1_000 })
      }))
      assert.strictEqual(written[written.length - 1], "10 events, 1/s ETA 9990 s")
    }))

  it.effect("the rate is of the last seconds, not the average since the start", () =>
    Effect.gen(function*() {
      const rates = new RecentRate()
      const written = yield* onTerminal(Effect.gen(function*() {
        // 100 a second for 10 s, then 10 a second for 10 s: the average since the start is 55/s.
        for (let s = 1; s <= 20; s++) yield* progressBar(s <= 10 ? s * 100 : 1_000 + (s - 10) * 10, s * 1_000, rates, {})
      }))
      assert.strictEqual(written[written.length - 1], "1100 events, 10/s")
    }))

  it.effect("with --duration, the ETA is at most what is left of it (whichever ends first)", () =>
    Effect.gen(function*() {
      const lineAt = (events: number, elapsedMs: number, expected: Parameters<typeof progressBar>[3]) => {
        const rates = new RecentRate()
        return onTerminal(progressBar(events, elapsedMs, rates, expected)).pipe(Effect.map((w) => w[0]))
      }
      // 10/s of 200,000 is 5 hours more, but --duration 30s stops it in 20 s.
      assert.strictEqual(yield* lineAt(100, 10_000, { total: 200_000, durationMs: 30_000 }), "100 events, 10/s ETA 20 s")
      // The events end first.
      assert.strictEqual(yield* lineAt(100, 10_000, { total: 150, durationMs: 30_000 }), "100 events, 10/s ETA 5 s")
      // An ASX load (no total) with --duration: the duration's end.
      assert.strictEqual(yield* lineAt(100, 10_000, { durationMs: 30_000 }), "100 events, 10/s ETA 20 s")
      // No total, no duration: no ETA.
      assert.strictEqual(yield* lineAt(100, 10_000, {}), "100 events, 10/s")
    }))
})

/**
 * The removals of metadata files that left a table's metadata log (ADR-84): run beside the
 * commits' answers, a bounded number at once, and waited for (a while) when the catalog closes.
 */
import { Duration, Effect, FiberSet, Option } from "effect"
import type { FileIO } from "../../services/FileIO.ts"

/**
 * The most removals of retired metadata files (ADR-84) running at once, one a commit's. A commit
 * finding this many still running (a file system slower than the commits, a removal that never
 * returns) removes none: its files stay off the metadata log, where orphan removal takes them.
 */
export const MAX_RUNNING_REMOVALS = 4

/** How long the catalog's closing waits for removals still running before it interrupts them, saying what it left. */
export const REMOVALS_CLOSE_WAIT = Duration.seconds(5)

/**
 * The catalog's removals, closed with its scope; returns `removeRetired`, which removes `dropped`
 * beside the commit's answer, or leaves them (see MAX_RUNNING_REMOVALS).
 */
export const makeRemoveRetired = Effect.fnUntraced(function*(files: FileIO["Service"]) {
  // The removals of metadata files that left a table's metadata log, run beside the commits'
  // answers (ADR-84), at most MAX_RUNNING_REMOVALS at once; the catalog's closing waits for those
  // still running (a drain's last commit too), up to REMOVALS_CLOSE_WAIT.
  const removals = yield* FiberSet.make<void>()
  // The files whose removal runs, and those of commits that found MAX_RUNNING_REMOVALS running.
  const removing = new Set<string>()
  let skipped = 0
  yield* Effect.addFinalizer(() =>
    Effect.gen(function*() {
      const done = yield* Effect.timeoutOption(FiberSet.awaitEmpty(removals), REMOVALS_CLOSE_WAIT)
      // The FiberSet's own closing, next, interrupts those still running.
      const unfinished = Option.isNone(done) ? removing.size : 0
      if (unfinished + skipped === 0) return
      const why = [
        unfinished > 0 ? `${unfinished} still being removed after ${Duration.format(REMOVALS_CLOSE_WAIT)} (first ${[...removing][0]})` : "",
        skipped > 0 ? `${skipped} of commits that found ${MAX_RUNNING_REMOVALS} removals running` : ""
      ].filter((w) => w !== "")
      yield* Effect.logWarning(
        `catalog closed leaving ${unfinished + skipped} retired metadata files for orphan removal (maintenance): ${why.join("; ")}`
      )
    })
  )
  /** Removes `dropped` beside the commit's answer, or leaves them (see MAX_RUNNING_REMOVALS). */
  return Effect.fnUntraced(function*(dropped: ReadonlyArray<string>) {
    if ((yield* FiberSet.size(removals)) >= MAX_RUNNING_REMOVALS) {
      if (skipped === 0) {
        yield* Effect.logWarning(
          `metadata file removals run behind the commits (${MAX_RUNNING_REMOVALS} running): files retired meanwhile are left for orphan removal (maintenance)`
        )
      }
      skipped += dropped.length
      return
    }
    for (const f of dropped) removing.add(f)
    yield* FiberSet.run(
      removals,
      Effect.forEach(dropped, (f) => files.remove(f).pipe(Effect.ignore, Effect.ensuring(Effect.sync(() => removing.delete(f)))), { discard: true })
    )
  })
})

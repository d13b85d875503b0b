/** Unit tests of the Ingestor over the memory layers: wait until its progress says `done`. */
import { Effect, Schedule } from "effect"
import { Ingestor } from "../../src/services/Ingestor.ts"

export type Progress = Effect.Success<Ingestor["Service"]["progress"]>

/** The progress once `done` holds, or as it is after `duration` (the test's assertions then say what is missing). */
export const waitForProgress = (done: (p: Progress) => boolean, duration: `${number} seconds` = "15 seconds") =>
  Effect.gen(function*() {
    const ingestor = yield* Ingestor
    return yield* ingestor.progress.pipe(
      Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: done }),
      Effect.timeoutOrElse({ duration, orElse: () => ingestor.progress })
    )
  })

/** What serve says when a signal stops it before it is ready. */
import { Effect, Layer } from "effect"

/**
 * `layer` (the catalog and DuckDB serve reads), logging a warning when a signal stops serve while
 * it opens: it exited 0 without a word, as a server that had served and drained does. Unlike a
 * query's or a replay's (run.ts `openedUnlessStopped`), the stop is not a failure: stopping is how
 * serve always ends (exit 0, docs/api.md), and a supervisor's `restart: on-failure` must not start
 * again a server it was told to stop. Only nothing was served: requests held for the routes are cut.
 */
export const serveOpening = <A, E>(layer: Layer.Layer<A, E>): Layer.Layer<A, E> =>
  Layer.effectContext(Layer.build(layer).pipe(Effect.onInterrupt(() =>
    Effect.logWarning(
      "serve stopped before it was ready: the catalog and DuckDB were still opening (nothing was served; requests waiting for them were cut)"
    )
  )))

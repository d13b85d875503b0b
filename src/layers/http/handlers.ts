/**
 * The route handlers of `Api`, one module per group: parse and check the query, pin the
 * snapshot(s), answer 304 when the client holds the same representation, run the read with a
 * time limit, and encode JSON, CSV or Parquet (streaming what can be large). Every failure
 * becomes a problem+json response (problems.ts); nothing leaks a path, a stack or a key.
 */
import { Effect, Layer } from "effect"
import type { HandlerOptions } from "./handlerContext.ts"
import { marketGroup } from "./marketRoutes.ts"
import { makeReads } from "./reads.ts"
import { referenceGroup } from "./referenceRoutes.ts"
import { replayGroup } from "./replayRoute.ts"
import { sqlGroup } from "./sqlRoute.ts"
import { systemGroup } from "./systemRoutes.ts"

export { CurrentRequest, type HandlerOptions, type RequestInfo } from "./handlerContext.ts"

export const groupsLayer = (options: HandlerOptions) =>
  Layer.unwrap(Effect.gen(function*() {
    // One for every group: the body cache and the sandbox slots are shared by all routes.
    const reads = yield* makeReads(options)
    return Layer.mergeAll(
      systemGroup(options),
      marketGroup(options, reads),
      referenceGroup(options, reads),
      replayGroup(options, reads),
      sqlGroup(options, reads)
    )
  }))

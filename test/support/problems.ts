/** What the HTTP API answers a failure with, for tests of the errors it maps (src/layers/http/problems.ts). */
import { Effect } from "effect"
import { guard } from "../../src/layers/http/problems.ts"

/** The status, code and detail of the problem `guard` answers `failure` with. */
export const problemOf = (failure: unknown) =>
  Effect.gen(function*() {
    const response = yield* guard(Effect.fail(failure))
    const body = response.body as { readonly body?: unknown }
    const text = typeof body.body === "string" ? body.body : new TextDecoder().decode(body.body as Uint8Array)
    return { status: response.status, ...(JSON.parse(text) as { code: string; detail: string }) }
  })

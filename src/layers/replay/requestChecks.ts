/** A replay request checked: its symbols, range, tables, pace and window size, or the InvalidQuery that rejects it. */
import { Effect, Result } from "effect"
import { InvalidArgument, invalid, LimitOutOfRange, type InvalidQuery } from "../../domain/query/errors.ts"
import { checkRange, checkSymbols } from "../../domain/query/validate.ts"
import type { MarketTable } from "../../services/QueryEngine.ts"
import type { ReplayRequest } from "../../services/ReplayEngine.ts"

const fromResult = <A>(r: Result.Result<A, InvalidQuery>): Effect.Effect<A, InvalidQuery> =>
  Result.isSuccess(r) ? Effect.succeed(r.success) : Effect.fail(r.failure)

export const checkRequest = Effect.fnUntraced(function*(request: ReplayRequest) {
  const symbols = yield* fromResult(checkSymbols(request.symbols))
  const range = yield* fromResult(checkRange(request.from, request.to))
  const which = [...new Set(request.tables ?? ["trades", "quotes"])]
  if (which.length === 0 || which.some((t) => t !== "trades" && t !== "quotes")) {
    return yield* invalid(new InvalidArgument({ name: "tables", detail: `${JSON.stringify(request.tables)}; trades and/or quotes` }))
  }
  const pace = request.pace ?? { _tag: "Unpaced" as const }
  if (pace._tag === "Paced" && !(Number.isFinite(pace.speed) && pace.speed > 0 && pace.speed <= 1_000_000)) {
    return yield* invalid(new InvalidArgument({ name: "speed", detail: `${pace.speed}; a multiple of real time above 0, at most 1000000` }))
  }
  const whole = pace._tag === "Paced" || request.wholeWindows === true
  const windowRows = request.windowRows ?? (whole ? 50_000 : 1_000_000)
  if (!Number.isSafeInteger(windowRows) || windowRows < 1_000 || windowRows > 10_000_000) {
    return yield* invalid(new LimitOutOfRange({ name: "windowRows", value: windowRows, min: 1_000, max: 10_000_000 }))
  }
  return { symbols, range, which: which as Array<MarketTable>, pace, windowRows, whole }
})

/** A request as `checkRequest` passed it. */
export type CheckedRequest = Effect.Success<ReturnType<typeof checkRequest>>

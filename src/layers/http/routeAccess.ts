import { Effect, Layer } from "effect"
import type { HttpServerResponse } from "effect/http"
import { MetricsAccess, ReadAccess, ReplayAccess, SqlAccess } from "../../domain/api/Api.ts"
import type { Scope, ServerOptions } from "./config.ts"
import { CurrentRequest } from "./handlerContext.ts"
import { CurrentPrincipal, refusal } from "./principal.ts"

/**
 * The check no spelling of a path can bypass: the matched route's middleware (Api.ts) authorizes
 * the caller the pipeline published against the route's scope. The credential the security
 * scheme decodes is not read: the pipeline found the key in the same headers.
 */
export const accessLayer = (options: Pick<ServerOptions, "metricsRequireKey">) => {
  const requiring = (scope: Scope) => <E, R>(route: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
    Effect.withFiber((fiber) => {
      const refused = refusal(fiber.getRef(CurrentPrincipal), scope, fiber.getRef(CurrentRequest).correlationId)
      return refused === undefined ? route : Effect.succeed(refused)
    })
  const keyed = (scope: Scope) => {
    const check = requiring(scope)
    return { apiKey: check, bearer: check }
  }
  return Layer.mergeAll(
    Layer.succeed(ReadAccess, ReadAccess.of(keyed("read"))),
    Layer.succeed(ReplayAccess, ReplayAccess.of(keyed("replay"))),
    Layer.succeed(SqlAccess, SqlAccess.of(keyed("sql"))),
    Layer.succeed(MetricsAccess, MetricsAccess.of(options.metricsRequireKey ? requiring("metrics") : (route) => route))
  )
}

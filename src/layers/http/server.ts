/**
 * The HTTP server: `Api` routes (+ `/openapi.json`, `/docs`) behind one request pipeline that
 * every request passes, matched or not (pipeline.ts), served by a Node HTTP(S) server
 * (nodeHttpServer.ts) that drains when it stops.
 */
import { Effect, Layer } from "effect"
import { HttpRouter, HttpServer, type HttpServerResponse } from "effect/http"
import { HttpApiBuilder, HttpApiScalar } from "effect/http-api"
import { Api } from "../../domain/api/Api.ts"
import { Draining } from "./draining.ts"
import { groupsLayer, type HandlerOptions } from "./handlers.ts"
import { nodeHttpServer, type NodeServerOptions } from "./nodeHttpServer.ts"
import { pipeline } from "./pipeline.ts"
import { sweepStaleTempDirs } from "./respond.ts"
import { accessLayer } from "./routeAccess.ts"
import { traceRedaction } from "./routeTable.ts"

/** Serves `app` (the pipeline over the router), its spans recording no value of an undeclared query parameter (traceRedaction). */
export const serving = <E, R>(app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
  // No middleware: without an exporter the server then makes no span per request (see pipeline).
  HttpServer.serve(app).pipe(Layer.provide(traceRedaction))

/** The routes, the pipeline and the server; needs the engines, the lakehouse and an HttpServer. */
export const layer = (options: HandlerOptions) => {
  const routes = Layer.mergeAll(
    HttpApiBuilder.layer(Api, { openapiPath: "/openapi.json" }),
    HttpApiScalar.layer(Api, { path: "/docs", scalar: { withDefaultFonts: false } })
  ).pipe(Layer.provide(groupsLayer(options)), Layer.provide(accessLayer(options)))
  const serve = Layer.unwrap(Effect.gen(function*() {
    // Requests delete their own files; these are what a process that died mid-request left.
    yield* sweepStaleTempDirs
    const router = yield* HttpRouter.HttpRouter
    return serving(pipeline(options)(router.asHttpEffect()))
  }))
  const built = serve.pipe(Layer.provide(Layer.provideMerge(routes, HttpRouter.layer)))
  // As HttpRouter.serve does: route-level requirement markers are satisfied by the router.
  return built as Layer.Layer<never, Layer.Error<typeof built>, HttpRouter.Request.Without<Layer.Services<typeof built>>>
}

/**
 * A Node HTTP server on host:port (0: any free port) with the platform services the routes need.
 * It listens before the routes are built; a request arriving in between, which Node would leave
 * unanswered for good, waits for the app's handler instead (the probes are answered: see
 * answeredWhileStarting). It provides `Draining`, true from the moment it starts to stop.
 */
export const nodeServer = (options: NodeServerOptions) =>
  Layer.unwrap(Effect.sync(() => {
    let draining = false
    const platform = nodeHttpServer(options, () => draining = true)
    return Layer.merge(platform, Layer.succeed(Draining, { now: () => draining }))
  }))

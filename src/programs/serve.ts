/**
 * `npm run serve -- [--port 8080] [--host 127.0.0.1] [--warehouse DIR] [--catalog FILE|URL]`:
 * the K2 HTTP API over the lakehouse (docs/api.md). Keys, limits and CORS come from
 * K2_API_* variables; without keys the server refuses to start unless K2_API_AUTH=off.
 */
import * as path from "node:path"
import { Config, Effect, Layer, Schema } from "effect"
import { Command, Flag } from "effect/cli"
import { HttpServer } from "effect/http"
import { commonEnvironment, describedWith, exchangeZonesEnvironment, inRange, integerFlag, integerRead, lakehouseEnvironment, nonBlank, setting } from "./cli/flags.ts"
import * as ServerConfig from "../layers/http/config.ts"
import * as Server from "../layers/http/server.ts"
import * as QueryLayer from "../layers/query/engine.ts"
import * as ReplayLayer from "../layers/replay/engine.ts"
import * as Telemetry from "../layers/telemetry/telemetry.ts"
import { lakehouseFlags, lakehouseOf, missingSqliteCatalog } from "./cli/lakehouse.ts"
import { runCommand } from "./cli/run.ts"
import { serveOpening } from "./cli/serveOpening.ts"

/** The address could not be had (in use, not this machine's, not allowed): said with the OS's reason. */
class CannotListen extends Schema.TaggedError<CannotListen>()("CannotListen", {
  address: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `cannot listen on ${this.address}: ${this.reason}`
  }
}

export const serveCommand = Command.make("serve", {
  ...lakehouseFlags,
  port: integerFlag("port").pipe(
    setting("TCP port; 0 = any free one", { env: "K2_API_PORT", read: integerRead, fallback: 8080, check: inRange(0, 65_535) })
  ),
  host: Flag.String("host").pipe(
    setting("Address to listen on (127.0.0.1: this machine only)", { env: "K2_API_HOST", read: Config.String, fallback: "127.0.0.1",
      // Node reads an empty host as every interface: the opposite of the default's "this machine only".
      check: nonBlank("an address") })
  )
}, (a) =>
  Effect.gen(function*() {
    const settings = yield* ServerConfig.fromEnv
    const tls = yield* ServerConfig.tlsFromEnv
    if (settings.auth === "off") {
      yield* Effect.logWarning("K2_API_AUTH=off: the API answers anyone who can reach it, without a key (development only)")
    }
    const warehouse = path.resolve(a.warehouse)
    // Served all the same (serve may start before ingest makes the warehouse), but a typo shows.
    const missing = missingSqliteCatalog(a)
    if (missing !== undefined) {
      yield* Effect.logWarning(`no catalog at ${missing}: serving an empty warehouse there until ingest commits to it`)
    }
    const lakehouse = lakehouseOf({ ...a, warehouse })
    const engines = serveOpening(Layer.mergeAll(QueryLayer.layerConfig, ReplayLayer.layer).pipe(Layer.provideMerge(lakehouse)))
    const app = Server.layer({ ...settings, warehouse }).pipe(
      Layer.provide(engines),
      Layer.provideMerge(Server.nodeServer({ port: a.port, host: a.host, maxSymbols: settings.maxSymbols, ...(tls === undefined ? {} : { tls }) }))
    )
    // Said once the routes are in place, so that the address answers when it is read.
    const announce = HttpServer.addressFormattedWith((formatted) => {
      // The platform formats every address as http://.
      const url = tls === undefined ? formatted : formatted.replace(/^http:/, "https:")
      return Effect.logInfo(`listening on ${url} (API docs at ${url}/docs)`)
    })
    return yield* Effect.andThen(announce, Effect.never).pipe(
      Effect.provide(app),
      Effect.catchTag("ServeError", (e) => {
        const reason = e.cause instanceof Error ? e.cause.message : String(e.cause)
        return Effect.fail(new CannotListen({ address: `${a.host}:${a.port}`, reason }))
      })
    )
  }).pipe(Effect.provide(Telemetry.layer("serve", { processMetrics: true })))).pipe(Command.withDescription(describedWith("Serve the K2 HTTP API", [
  "K2_API_KEYS, K2_API_AUTH (keys are required unless K2_API_AUTH=off), K2_API_CORS_ORIGINS, K2_API_RATE_LIMIT, K2_API_RATE_WINDOW_SECONDS, " +
  "K2_API_METRICS_REQUIRE_KEY, K2_API_MAX_RANGE_DAYS, K2_API_MAX_PAGE_ROWS, K2_API_MAX_EXPORT_ROWS, K2_API_MAX_BARS, K2_API_MAX_SYMBOLS, " +
  "K2_API_QUERY_TIMEOUT_MS, K2_API_SQL_TIMEOUT_MS, K2_API_SQL_MAX_ROWS, K2_API_SQL_MAX_BYTES, K2_API_MAX_BODY_BYTES, K2_API_CACHE_BYTES, K2_API_MAX_STREAMS, K2_API_MAX_STREAMS_PER_KEY (docs/api.md)",
  "K2_API_TRUSTED_PROXIES, K2_API_CLIENT_ADDRESS_HEADER (behind a reverse proxy), K2_API_TLS_CERT_FILE and K2_API_TLS_KEY_FILE (HTTPS served directly; docs/operations.md)",
  exchangeZonesEnvironment,
  ...lakehouseEnvironment,
  ...commonEnvironment
])))

if (import.meta.main) runCommand(serveCommand)

/** The "system" group: /health, /ready (catalog, warehouse and DuckDB checked) and /metrics. */
import * as fs from "node:fs"
import { Effect } from "effect"
import { HttpServerResponse } from "effect/http"
import { HttpApiBuilder } from "effect/http-api"
import { PrometheusMetrics } from "effect/observability"
import { Api } from "../../domain/api/Api.ts"
import { Catalog } from "../../services/Catalog.ts"
import { DuckDb, query } from "../duckdb/DuckDb.ts"
import { CurrentRequest, type HandlerOptions } from "./handlerContext.ts"
import { problem } from "./respond.ts"

export const systemGroup = (options: HandlerOptions) =>
  HttpApiBuilder.group(Api, "system", (handlers) =>
    Effect.gen(function*() {
      const catalog = yield* Catalog
      const duckDb = yield* DuckDb

      const ready = Effect.gen(function*() {
        const { correlationId } = yield* CurrentRequest
        const checks: Record<string, string> = {}
        checks.catalog = yield* catalog.listNamespaces().pipe(Effect.as("ok"), Effect.catch(() => Effect.succeed("unreachable")), Effect.timeoutOrElse({ duration: "2 seconds", orElse: () => Effect.succeed("timeout") }))
        checks.warehouse = yield* Effect.sync(() => {
          try {
            fs.accessSync(options.warehouse, fs.constants.R_OK)
            return "ok"
          } catch {
            return "unreadable"
          }
        })
        // Every connection in use is DuckDB at work: "busy" is ready. A 503 then took a server out
        // of rotation for being busy (every replica at once under a burst). Not answering on a
        // connection it has is not ready.
        let connected = false
        checks.duckdb = yield* duckDb.withConnection((c) =>
          Effect.suspend(() => {
            connected = true
            return query(c, "ready", "SELECT 1")
          })
        ).pipe(
          Effect.as("ok"),
          Effect.catch(() => Effect.succeed("failing")),
          Effect.timeoutOrElse({ duration: "2 seconds", orElse: () => Effect.succeed(connected ? "timeout" : "busy") })
        )
        const ok = Object.values(checks).every((v) => v === "ok" || v === "busy")
        return ok
          ? HttpServerResponse.jsonUnsafe({ status: "ready", checks }, { headers: { "cache-control": "no-store" } })
          : problem(503, "not_ready", `not ready: ${JSON.stringify(checks)}`, correlationId)
      })

      const metrics = PrometheusMetrics.format().pipe(
        Effect.map((text) => HttpServerResponse.text(text, { contentType: "text/plain; version=0.0.4; charset=utf-8", headers: { "cache-control": "no-store" } }))
      )

      return handlers
        .handle("health", () => Effect.succeed({ status: "ok" as const }))
        .handle("ready", () => ready)
        .handle("metrics", () => metrics)
    }))

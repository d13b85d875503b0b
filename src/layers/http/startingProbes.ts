import type { IncomingMessage, ServerResponse } from "node:http"
import { randomUUID } from "node:crypto"
import { CORRELATION_ID } from "../../domain/api/params.ts"
import { problemBody } from "./respond.ts"
import { pathForms, pathOf } from "./routePaths.ts"

/**
 * The probes, answered while the catalog and DuckDB are still being opened (the routes not yet in
 * place): /health alive, /ready not yet. Held like the rest, they waited as long as the catalog
 * took, and a liveness probe that timed out had a starting server killed. True when answered.
 */
export const answeredWhileStarting = (request: IncomingMessage, response: ServerResponse): boolean => {
  if (request.method !== "GET" && request.method !== "HEAD") return false
  const forms = pathForms(pathOf(request.url ?? ""))
  const probe = forms.every((p) => p === "/health") ? "health" : forms.every((p) => p === "/ready") ? "ready" : undefined
  if (probe === undefined) return false
  const given = request.headers["x-correlation-id"]
  const correlationId = typeof given === "string" && CORRELATION_ID.test(given) ? given : randomUUID()
  const [status, type, body] = probe === "health"
    ? [200, "application/json", JSON.stringify({ status: "ok" })]
    : [503, "application/problem+json", problemBody(503, "not_ready", "not ready: starting (the catalog and DuckDB are being opened)", correlationId)]
  response.writeHead(status, {
    "content-type": type,
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
    "x-correlation-id": correlationId,
    "x-content-type-options": "nosniff"
  })
  response.end(request.method === "HEAD" ? undefined : body)
  return true
}

/** What escapes the routes, a failure or an error answer the framework made itself, as application/problem+json (never a stack). */
import { Cause, Effect } from "effect"
import { HttpServerError, HttpServerResponse } from "effect/http"
import { HttpApiError } from "effect/http-api"
import { problem, problemBody } from "./respond.ts"
import { methodsAt } from "./routeTable.ts"

/** Any failure that escaped the handlers: a problem, never a stack trace. Client aborts pass through. */
export const toProblemResponse = (cause: Cause.Cause<unknown>, correlationId: string, maxBodyBytes: number, url: string) => {
  if (Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause as Cause.Cause<never>)
  const error = Cause.squash(cause)
  if (HttpServerError.isHttpServerError(error)) {
    const reason = error.reason
    if (reason._tag === "RouteNotFound") {
      const allowed = methodsAt(reason.request.url)
      if (allowed.length === 0) return Effect.succeed(problem(404, "not_found", "no such route", correlationId))
      const allow = allowed.join(", ")
      return Effect.succeed(reason.request.method === "OPTIONS"
        ? HttpServerResponse.empty({ status: 204, headers: { allow } })
        : problem(405, "method_not_allowed", `${reason.request.method} is not answered here; allowed: ${allow}`, correlationId, { allow }))
    }
    if (reason._tag === "RequestParseError") {
      // A body with no length to check up front meets the limit while it is read.
      return Effect.succeed(reason.reason === "BodyTooLarge"
        ? problem(413, "body_too_large", `the body is larger than ${maxBodyBytes} bytes`, correlationId, { connection: "close" })
        : problem(400, "bad_request", "the request could not be read", correlationId))
    }
  }
  if (HttpApiError.HttpApiSchemaError.is(error) && error.kind !== "Body" && error.kind !== "ResponseHeaders") {
    // Every query parameter is one value: a repeated one decodes as a list, which the schema words as `Expected string`.
    const q = url.indexOf("?")
    const names = error.kind === "Query" && q >= 0 ? [...new URLSearchParams(url.slice(q + 1)).keys()] : []
    const repeated = names.find((name, i) => names.indexOf(name) !== i && error.cause.message.includes(JSON.stringify([name])))
    if (repeated !== undefined) {
      const detail = `${repeated} is given more than once: give each parameter once (a list is comma-separated, as in symbols=BHP,CBA)`
      return Effect.succeed(problem(400, "bad_request", detail, correlationId))
    }
    const where = error.kind.toLowerCase()
    const detail = error.cause.message.split("\n").slice(0, 4).join("; ").slice(0, 400)
    return Effect.succeed(problem(400, "bad_request", `invalid ${where}: ${detail}`, correlationId))
  }
  // The cause as the log's `cause` (JSON's field), not pasted into its message.
  return Effect.logError("unhandled failure", cause).pipe(
    Effect.as(problem(500, "internal", "internal error", correlationId))
  )
}

/** Error responses made by the framework (415, 413, 405...) get the same problem body. */
export const normalize = (response: HttpServerResponse.HttpServerResponse, correlationId: string) => {
  if (response.status < 400) return response
  const type = response.headers["content-type"] ?? ""
  if (type.startsWith("application/problem+json")) return response
  const code = response.status === 415 ? "unsupported_media_type" : response.status === 413 ? "body_too_large" : response.status === 404 ? "not_found" : response.status >= 500 ? "internal" : "bad_request"
  const detail = response.status >= 500 ? "internal error" : response.status === 415 ? "unsupported content type" : "bad request"
  return HttpServerResponse.text(problemBody(response.status, code, detail, correlationId), {
    status: response.status,
    contentType: "application/problem+json",
    headers: { "cache-control": "no-store" }
  })
}

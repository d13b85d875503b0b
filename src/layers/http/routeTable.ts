/**
 * The routes of `Api` as the router matches them, and what the pipeline reads from them: the
 * methods a path is answered by (405), the query parameters a route declares (the 400 for any
 * other, and the server span's redaction of their values).
 */
import { Layer, SchemaAST } from "effect"
import { FindMyWay, UrlParams } from "effect/http"
import { HttpApi } from "effect/http-api"
import { Api } from "../../domain/api/Api.ts"
import { problem } from "./respond.ts"

/**
 * The routes as the router matches them (FindMyWay with its default settings), from the one
 * reflection of `Api`: each route's path and the query parameters its schema declares. The
 * documents (`/openapi.json`, `/docs`) take none.
 */
export const { endpoints, declaredQuery } = (() => {
  const router = FindMyWay.make<{ readonly path: string; readonly query: ReadonlyArray<string> }>()
  const declared = new Set<string>()
  HttpApi.reflect(Api, {
    onGroup: () => {},
    onEndpoint: ({ endpoint }) => {
      const ast = endpoint.query?.ast
      const query = ast !== undefined && SchemaAST.isObjects(ast) ? ast.propertySignatures.map((p) => String(p.name)) : []
      query.forEach((name) => declared.add(name))
      router.on(endpoint.method, endpoint.path as FindMyWay.PathInput, { path: endpoint.path, query })
    }
  })
  router.on("GET", "/openapi.json", { path: "/openapi.json", query: [] })
  router.on("GET", "/docs", { path: "/docs", query: [] })
  return { endpoints: router, declaredQuery: [...declared] }
})()

/**
 * The query parameters whose values a server span records (`url.full`, `url.query`, with an
 * exporter): those a route declares. Any other is refused (queryRefusal) and is most often a key
 * put in the URL (`?api_key=`, `?token=`), which the span sent to the trace backend as written:
 * its value is recorded as REDACTED (names match case-sensitively, as the router's do).
 */
export const traceRedaction = Layer.succeed(UrlParams.CurrentRedactedNames, [
  ...UrlParams.CurrentRedactedNames.defaultValue(),
  new RegExp(`^(?!(?:${declaredQuery.map((name) => name.replace(/[^A-Za-z0-9_]/g, "\\$&")).join("|")})$)`)
])

/**
 * The methods a path is answered by, for a 405's Allow (RFC 9110 §15.5.6): the router says only
 * that it found no route.
 */
export const methodsAt = (url: string): ReadonlyArray<string> => {
  const methods = ["GET", "POST"].filter((m) => endpoints.find(m, url) !== undefined)
  // HEAD is answered as GET; OPTIONS by the pipeline (toProblemResponse).
  return methods.length === 0 ? [] : [...methods.flatMap((m) => m === "GET" ? [m, "HEAD"] : [m]), "OPTIONS"]
}

/**
 * A 400 for query parameters the matched route does not declare: the schemas ignore them, so a
 * typo (`symbol=BHP`, `limt=1`) answered every symbol, or a full page. None is let through, as no
 * handler reads the query past its schema (the next-page Link repeats the request's own query).
 * So is a parameter given empty (`symbols=`, `limit=`): an unset variable in a client's URL
 * template, which read as not given answered every symbol or the default page.
 */
export const queryRefusal = (method: string, url: string, correlationId: string) => {
  // The parameters as the router parses them for the route's schema.
  const found = endpoints.find(method === "HEAD" ? "GET" : method, url)
  if (found === undefined) return undefined
  const { path, query } = found.handler
  const unknown = Object.keys(found.searchParams).filter((name) => !query.includes(name))
  if (unknown.length > 0) {
    const names = unknown.slice(0, 5).map((name) => name === "" ? `""` : name.slice(0, 64)).join(", ") + (unknown.length > 5 ? ", ..." : "")
    const takes = query.length === 0 ? "no query parameters" : query.join(", ")
    return problem(400, "bad_request", `unknown query parameter${unknown.length > 1 ? "s" : ""} ${names}; ${path} takes ${takes}`, correlationId)
  }
  const empty = Object.entries(found.searchParams).find(([, value]) => typeof value === "string" && value.trim() === "")
  if (empty === undefined) return undefined
  return problem(400, "bad_request", `${empty[0]} is empty: give it a value, or leave it out for its default`, correlationId)
}

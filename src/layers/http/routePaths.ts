/** How the router reads a request's path, and the scopes each reading needs (the pipeline checks them before the route). */
import { percentDecoded } from "../../domain/percentDecode.ts"
import type { Scope } from "./config.ts"

/** Routes anyone may call (`/metrics` unless configured otherwise). */
const PUBLIC = new Set(["/health", "/ready", "/metrics", "/openapi.json", "/docs"])

/**
 * The forms the router may read a path as: it ignores case, merges repeated slashes and decodes
 * percent-escapes, but it resolves no dot segments (an absolute-form target reaches it resolved),
 * so each form is taken both as written and resolved: `/v1/snapshots/x\..\..\..\health` is the
 * snapshots route to it, /health to a URL parser. The scopes are decided on every form, so the
 * pipeline refuses before the body is read what the route would; the route's check is the one
 * that holds if a spelling is still missed here.
 */
export const pathForms = (pathname: string): ReadonlyArray<string> => {
  // Not decodable: the raw form alone.
  const decoded = percentDecoded(pathname) ?? pathname
  const trim = (p: string) => p.length > 1 && p.endsWith("/") ? p.slice(0, -1) : p
  return [pathname, decoded].flatMap((p) => {
    const merged = p.toLowerCase().replace(/\/{2,}/g, "/")
    // `/\[` (decoded from `/%5C%5B`) reads as a URL with the host `[`, which new URL throws on:
    // that was a 500. Such a path has no resolved form; the router reads it as written.
    let resolved: string
    try {
      resolved = new URL(merged.startsWith("/") ? merged : `/${merged}`, "http://k2").pathname
    } catch {
      return [trim(merged)]
    }
    return [trim(merged), trim(resolved)]
  })
}

/** The scopes a request needs: none for the public routes, else read, sql or replay by route. */
export const scopesOf = (pathname: string, metricsRequireKey: boolean): ReadonlySet<Scope> => {
  const scopes = new Set<Scope>()
  for (const path of pathForms(pathname)) {
    if (path === "/metrics" && metricsRequireKey) scopes.add("metrics")
    else if (PUBLIC.has(path) || path.startsWith("/docs/")) continue
    else if (path.startsWith("/v1/replay")) scopes.add("replay")
    else if (path.startsWith("/v1/sql")) scopes.add("sql")
    else scopes.add("read")
  }
  return scopes
}

export const pathOf = (url: string) => {
  const q = url.indexOf("?")
  return q < 0 ? url : url.slice(0, q)
}

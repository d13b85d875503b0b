/**
 * The request metrics, by route, method and status (the route a bounded label), in the process-wide
 * Effect registry; /metrics renders it.
 */
import { Metric } from "effect"
import { pathOf } from "./routePaths.ts"
import { endpoints } from "./routeTable.ts"

const requests = Metric.counter("k2_http_requests_total", { description: "HTTP requests by route, method and status" })
const duration = Metric.histogram("k2_http_request_duration_seconds", {
  description: "HTTP request latency (time to the response head)",
  // 2: K2ServeLatencyP99High's threshold. Between two boundaries Prometheus interpolates, and with
  // 1 and 2.5 alone, reads that all took 1.2 s had a p99 of 2.49 s (ops.test.ts).
  boundaries: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 2.5, 5, 10]
})

const ROUTES = [
  "/v1/trades/with-quotes", "/v1/trades", "/v1/quotes/bars", "/v1/quotes", "/v1/bars", "/v1/summary", "/v1/symbols",
  "/v1/instruments", "/v1/snapshots", "/v1/stats", "/v1/replay", "/v1/sql", "/health", "/ready", "/metrics", "/openapi.json", "/docs"
]
/** A bounded route label: the known route the path starts with, else "other". */
const routeLabel = (pathname: string) => ROUTES.find((r) => pathname === r || pathname.startsWith(`${r}/`)) ?? "other"

/**
 * The request metrics' route: the one the router matches by any method it answers (it ignores case
 * and merges repeated slashes: `/V1/replay` is the replay), else the known route the path starts with.
 */
export const routeOf = (method: string, url: string) => {
  const found = endpoints.find(method === "HEAD" ? "GET" : method, url) ?? endpoints.find("GET", url) ?? endpoints.find("POST", url)
  return routeLabel(found === undefined ? pathOf(url) : found.handler.path)
}

/** Per-series handles of the request metrics, made once: labelling a metric per request costs a key build. */
const requestSeries = new Map<string, Metric.Metric<number, unknown>>()
const durationSeries = new Map<string, Metric.Metric<number, unknown>>()
export const requestsOf = (route: string, method: string, status: string) => {
  const key = `${route} ${method} ${status}`
  let m = requestSeries.get(key)
  if (m === undefined) requestSeries.set(key, m = Metric.withAttributes(requests, { route, method, status }))
  return m
}
export const durationOf = (route: string) => {
  let m = durationSeries.get(route)
  if (m === undefined) durationSeries.set(route, m = Metric.withAttributes(duration, { route }))
  return m
}

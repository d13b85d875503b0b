/**
 * An in-process OTLP/HTTP trace receiver for tests and benches: a `node:http` server on a free
 * loopback port accepting `POST /v1/traces` in the JSON encoding (what K2's exporter sends,
 * src/layers/telemetry/tracing.ts) and keeping every span with its service name.
 */
import { createServer, type Server } from "node:http"
import { Effect } from "effect"
import type { OtlpTracer } from "effect/observability"

type OtlpSpan = OtlpTracer.ScopeSpan["spans"][number]

export interface ReceivedSpan {
  readonly service: string
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId: string | undefined
  readonly name: string
  /** OTLP SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  readonly kind: number
  readonly attributes: Readonly<Record<string, unknown>>
  readonly links: ReadonlyArray<{ readonly traceId: string; readonly spanId: string; readonly attributes: Readonly<Record<string, unknown>> }>
}

export const SpanKind = { internal: 1, server: 2, client: 3, producer: 4, consumer: 5 } as const

export interface OtlpReceiver {
  readonly endpoint: string
  readonly spans: Array<ReceivedSpan>
  /** Export requests received (including empty ones). */
  readonly requests: () => number
}

const valueOf = (v: Record<string, unknown> | undefined): unknown => {
  if (v === undefined) return undefined
  if ("stringValue" in v) return v.stringValue
  if ("boolValue" in v) return v.boolValue
  if ("intValue" in v) return Number(v.intValue)
  if ("doubleValue" in v) return v.doubleValue
  if ("arrayValue" in v) return ((v.arrayValue as { values?: Array<Record<string, unknown>> }).values ?? []).map(valueOf)
  return undefined
}

const attributesOf = (kvs: ReadonlyArray<{ key: string; value: unknown }> | undefined) =>
  Object.fromEntries((kvs ?? []).map((kv) => [kv.key, valueOf(kv.value as Record<string, unknown>)]))

const decode = (body: OtlpTracer.TraceData): Array<ReceivedSpan> =>
  body.resourceSpans.flatMap((rs) => {
    const service = String(attributesOf(rs.resource.attributes as never)["service.name"] ?? "")
    return rs.scopeSpans.flatMap((ss) =>
      ss.spans.map((s: OtlpSpan): ReceivedSpan => ({
        service,
        traceId: s.traceId,
        spanId: s.spanId,
        parentSpanId: s.parentSpanId === "" ? undefined : s.parentSpanId,
        name: s.name,
        kind: s.kind,
        attributes: attributesOf(s.attributes as never),
        links: s.links.map((l) => ({ traceId: l.traceId, spanId: l.spanId, attributes: attributesOf(l.attributes as never) }))
      }))
    )
  })

/** Listens while the scope lives. Anything but JSON on /v1/traces is refused (415), so its spans never arrive. */
export const otlpReceiver = Effect.acquireRelease(
  Effect.callback<{ server: Server; receiver: OtlpReceiver }>((resume) => {
    const spans: Array<ReceivedSpan> = []
    let requests = 0
    const server = createServer((req, res) => {
      const chunks: Array<Buffer> = []
      req.on("data", (c: Buffer) => chunks.push(c))
      req.on("end", () => {
        requests++
        if (req.method !== "POST" || req.url !== "/v1/traces") return void res.writeHead(404).end()
        if (!(req.headers["content-type"] ?? "").startsWith("application/json")) {
          return void res.writeHead(415).end(`expected application/json, got ${req.headers["content-type"]}`)
        }
        try {
          for (const s of decode(JSON.parse(Buffer.concat(chunks).toString("utf8")))) spans.push(s)
          res.writeHead(200, { "content-type": "application/json" }).end("{}")
        } catch (e) {
          res.writeHead(400).end(String(e))
        }
      })
    })
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port
      resume(Effect.succeed({ server, receiver: { endpoint: `http://127.0.0.1:${port}`, spans, requests: () => requests } }))
    })
  }),
  ({ server }) => Effect.callback<void>((resume) => {
    server.close(() => resume(Effect.void))
    server.closeAllConnections()
  })
).pipe(Effect.map(({ receiver }) => receiver))

/** The environment that points a K2 program's exporter at `receiver`. */
export const otlpEnv = (receiver: OtlpReceiver): Record<string, string> => ({
  OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint
})

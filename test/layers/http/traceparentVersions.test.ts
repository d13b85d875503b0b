/**
 * serve continues a caller's W3C trace whatever version its `traceparent` says: a later version is
 * read by its first four fields (W3C Trace Context, "Versioning of traceparent"), as K2 reads the
 * header in Kafka records (domain/traceContext.ts). The platform's parser takes version 00 alone,
 * so a caller on a later version had its trace restarted: the server span (and the access log's
 * trace_id) under a new trace id, the caller's spans unlinked.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Tracer } from "effect"
import { HttpServer, HttpServerResponse } from "effect/http"
import { defaults } from "../../../src/layers/http/config.ts"
import { pipeline } from "../../../src/layers/http/pipeline.ts"
import * as Server from "../../../src/layers/http/server.ts"
import { recording } from "../../support/tracing.ts"

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
const SPAN = "00f067aa0ba902b7"

/** The pipeline over an app answering "ran", served as Server.layer serves it, with `tracer` installed. */
const tracedServer = (tracer: Tracer.Tracer) =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const context = yield* Layer.buildWithScope(Server.nodeServer({ port: 0, host: "127.0.0.1" }), scope)
    const serving = Server.serving(
      pipeline({ ...defaults, keys: [], auth: "off", warehouse: "/tmp" })(Effect.succeed(HttpServerResponse.text("ran")))
    )
    yield* Layer.buildWithScope(Layer.provide(serving, Layer.succeed(Tracer.Tracer, tracer)), scope).pipe(Effect.provideContext(context))
    const server = yield* HttpServer.HttpServer.pipe(Effect.provideContext(context))
    return `http://127.0.0.1:${(server.address as { port: number }).port}`
  })

describe("serve, a caller's traceparent", () => {
  it.live("of a later version is continued by its first four fields; an invalid one is not", () =>
    Effect.scoped(Effect.gen(function*() {
      const { spans, tracer } = recording()
      const url = yield* tracedServer(tracer)
      const cases = [
        [`00-${TRACE}-${SPAN}-01`, true],
        [`01-${TRACE}-${SPAN}-01`, true],
        [`cc-${TRACE}-${SPAN}-01-more-fields`, true],
        // Never continued: version ff, version 00 with more fields, upper case, all-zero ids.
        [`ff-${TRACE}-${SPAN}-01`, false],
        [`00-${TRACE}-${SPAN}-01-more`, false],
        [`01-${TRACE.toUpperCase()}-${SPAN}-01`, false],
        [`01-${"0".repeat(32)}-${SPAN}-01`, false]
      ] as const
      for (const [traceparent, continued] of cases) {
        const before = spans.length
        const res = yield* Effect.promise(() => fetch(`${url}/health`, { headers: { traceparent } }))
        assert.strictEqual(yield* Effect.promise(() => res.text()), "ran")
        const server = spans.slice(before).find((s) => s.kind === "server")
        assert.isDefined(server, traceparent)
        assert.strictEqual(server!.traceId === TRACE, continued, `${traceparent}: trace ${server!.traceId}`)
        if (continued) assert.strictEqual(server!.parent._tag === "Some" ? server!.parent.value.spanId : undefined, SPAN, traceparent)
      }
    })))
})

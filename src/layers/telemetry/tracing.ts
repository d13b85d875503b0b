/**
 * OTLP/HTTP trace export with Effect's own exporter (`effect/observability`), configured by
 * the standard OpenTelemetry variables: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (used as is) or
 * OTEL_EXPORTER_OTLP_ENDPOINT (+ `/v1/traces`), OTEL_EXPORTER_OTLP[_TRACES]_HEADERS
 * (`k=v,k=v`), OTEL_TRACES_EXPORTER (default otlp; `none` turns it off), OTEL_SDK_DISABLED,
 * OTEL_SERVICE_NAME (else `service.name` of OTEL_RESOURCE_ATTRIBUTES, else `k2-<program>`),
 * OTEL_RESOURCE_ATTRIBUTES. Off (no exporter, no HTTP client) when no endpoint is set. The
 * spans are the `Effect.fn` / `withSpan` names already in the code (IcebergSink.append,
 * iceberg.commit, SequenceTracker.observe, ...).
 */
import { Layer } from "effect"
import { FetchHttpClient } from "effect/http"
import { OtlpSerialization, OtlpTracer } from "effect/observability"
import { percentDecoded } from "../../domain/percentDecode.ts"

/** `k=v,k=v` with %-escapes; a pair that does not decode is skipped (the spec's "discard"), never a crash at start-up. */
const pairs = (text: string | undefined): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const part of (text ?? "").split(",")) {
    const i = part.indexOf("=")
    if (i <= 0) continue
    const key = percentDecoded(part.slice(0, i).trim())
    const value = percentDecoded(part.slice(i + 1).trim())
    if (key !== undefined && value !== undefined) out[key] = value
  }
  return out
}

const nonEmpty = (s: string | undefined) => s === undefined || s === "" ? undefined : s

export interface TracingConfig {
  readonly url: string
  readonly headers: Record<string, string>
  readonly serviceName: string
  readonly attributes: Record<string, string>
}

/** The exporter's settings from the environment, or undefined when tracing is off. */
export const configFromEnv = (service: string, env: NodeJS.ProcessEnv = process.env): TracingConfig | undefined => {
  if (env["OTEL_SDK_DISABLED"]?.toLowerCase() === "true") return undefined
  const exporters = (env["OTEL_TRACES_EXPORTER"] ?? "otlp").split(",").map((s) => s.trim().toLowerCase())
  if (!exporters.includes("otlp")) return undefined
  const traces = env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
  const base = env["OTEL_EXPORTER_OTLP_ENDPOINT"]
  const url = traces !== undefined && traces !== ""
    ? traces
    : base !== undefined && base !== ""
    ? `${base.replace(/\/+$/, "")}/v1/traces`
    : undefined
  if (url === undefined) return undefined
  const attributes = pairs(env["OTEL_RESOURCE_ATTRIBUTES"])
  return {
    url,
    headers: { ...pairs(env["OTEL_EXPORTER_OTLP_HEADERS"]), ...pairs(env["OTEL_EXPORTER_OTLP_TRACES_HEADERS"]) },
    // The spec's precedence: OTEL_SERVICE_NAME, then service.name in the resource attributes (the
    // exporter's `serviceName` overrides the attribute, so a default here must not shadow it).
    serviceName: nonEmpty(env["OTEL_SERVICE_NAME"]) ?? nonEmpty(attributes["service.name"]) ?? `k2-${service}`,
    attributes
  }
}

/** Exports the program's spans over OTLP/HTTP (JSON) when configured; nothing otherwise. */
export const tracingLayer = (service: string) => {
  const config = configFromEnv(service)
  if (config === undefined) return Layer.empty
  return OtlpTracer.layer({
    url: config.url,
    headers: config.headers,
    resource: { serviceName: config.serviceName, serviceVersion: "0.1.0", attributes: config.attributes }
  }).pipe(
    Layer.provide(OtlpSerialization.layerJson),
    Layer.provide(FetchHttpClient.layer)
  )
}

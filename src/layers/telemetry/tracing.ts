/**
 * OTLP/HTTP trace export with Effect's own exporter (`effect/observability`), configured by
 * the standard OpenTelemetry variables: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (used as is) or
 * OTEL_EXPORTER_OTLP_ENDPOINT (+ `/v1/traces`), OTEL_EXPORTER_OTLP[_TRACES]_HEADERS
 * (`k=v,k=v`), OTEL_TRACES_EXPORTER (default otlp; `none` turns it off), OTEL_SDK_DISABLED,
 * OTEL_SERVICE_NAME (else `service.name` of OTEL_RESOURCE_ATTRIBUTES, else `k2-<program>`),
 * OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP[_TRACES]_TIMEOUT (ms per request, default
 * 10000). Off (no exporter, no HTTP client) when no endpoint is set; off with a warning when
 * the endpoint is not an http(s) URL or OTEL_EXPORTER_OTLP[_TRACES]_PROTOCOL is grpc; other values
 * K2 cannot take (an unknown exporter, a non-boolean OTEL_SDK_DISABLED, a timeout not in whole
 * milliseconds) are ignored with a warning (`settingWarnings`). The
 * spans are the `Effect.fn` / `withSpan` names already in the code (IcebergSink.append,
 * iceberg.commit, SequenceTracker.observe, ...).
 */
import { Duration, Effect, Layer } from "effect"
import { FetchHttpClient, HttpClient, HttpClientError } from "effect/http"
import { OtlpSerialization, OtlpTracer } from "effect/observability"
import { percentDecoded } from "../../domain/percentDecode.ts"
import { unsendableHeaderValue } from "../../domain/headerValue.ts"
import { splitCredentials, withoutCredentials } from "../../domain/urlCredentials.ts"
import { K2_VERSION } from "../../domain/version.ts"

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

/** A variable's value, trimmed; empty or blank is unset (the spec's rule; a blank traces-specific one hid the general one). */
const setting = (env: NodeJS.ProcessEnv, name: string) => nonEmpty(env[name]?.trim())

/** A timeout in milliseconds; unset or not a positive integer, undefined. */
const millis = (s: string | undefined) => {
  const n = Number(nonEmpty(s?.trim()) ?? Number.NaN)
  return Number.isSafeInteger(n) && n > 0 ? n : undefined
}

export interface TracingConfig {
  readonly url: string
  readonly headers: Record<string, string>
  readonly serviceName: string
  readonly serviceVersion: string
  readonly attributes: Record<string, string>
  readonly timeoutMs: number
}

/** The exporter's settings from the environment, or undefined when tracing is off. */
export const configFromEnv = (service: string, env: NodeJS.ProcessEnv = process.env): TracingConfig | undefined => {
  // Trimmed, as settingWarnings reads it: `true ` (an env file's, a YAML value's) left tracing on without a word.
  if (setting(env, "OTEL_SDK_DISABLED")?.toLowerCase() === "true") return undefined
  // Empty is unset (the spec's rule for every variable), not an exporter named "".
  const exporters = (setting(env, "OTEL_TRACES_EXPORTER") ?? "otlp").split(",").map((s) => s.trim().toLowerCase())
  if (!exporters.includes("otlp")) return undefined
  const traces = setting(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
  const base = setting(env, "OTEL_EXPORTER_OTLP_ENDPOINT")
  const url = traces ?? (base === undefined ? undefined : `${base.replace(/\/+$/, "")}/v1/traces`)
  if (url === undefined) return undefined
  const attributes = pairs(env["OTEL_RESOURCE_ATTRIBUTES"])
  const headers = { ...pairs(env["OTEL_EXPORTER_OTLP_HEADERS"]), ...pairs(env["OTEL_EXPORTER_OTLP_TRACES_HEADERS"]) }
  // User info goes as Basic authorization (an authorization header given wins): fetch refuses a
  // URL holding credentials, so nothing was exported, and its error (logged) echoed the password.
  const target = isHttpUrl(url) ? splitCredentials(url) : { url }
  const authorized = Object.keys(headers).some((name) => name.toLowerCase() === "authorization")
  return {
    url: target.url,
    headers: target.authorization === undefined || authorized ? headers : { ...headers, authorization: target.authorization },
    // The spec's precedence: OTEL_SERVICE_NAME, then service.name in the resource attributes (the
    // exporter's `serviceName` overrides the attribute, so a default here must not shadow it).
    // Trimmed: `k2-a ` (an env file's) was a second service beside `k2-a` in the trace backend.
    serviceName: setting(env, "OTEL_SERVICE_NAME") ?? nonEmpty(attributes["service.name"]) ?? `k2-${service}`,
    // The exporter's `serviceVersion` overrides the attribute too: a deployment's own version wins.
    serviceVersion: nonEmpty(attributes["service.version"]) ?? K2_VERSION,
    attributes,
    timeoutMs: millis(env["OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"]) ?? millis(env["OTEL_EXPORTER_OTLP_TIMEOUT"]) ?? 10_000
  }
}

/**
 * What the environment asks that K2 cannot take, each said once at start (the spec's "generate a
 * warning and gracefully ignore the setting"): a value that was ignored without a word left an
 * operator with no traces, or with a timeout other than the one set, and nothing to tell why.
 */
const settingWarnings = (service: string, env: NodeJS.ProcessEnv = process.env): Array<string> => {
  const out: Array<string> = []
  const disabled = setting(env, "OTEL_SDK_DISABLED")
  if (disabled?.toLowerCase() === "true") return out
  if (disabled !== undefined && disabled.toLowerCase() !== "false") {
    out.push(`OTEL_SDK_DISABLED=${disabled} is neither true nor false: taken as false (only "true" turns tracing off)`)
  }
  const exporters = (setting(env, "OTEL_TRACES_EXPORTER") ?? "otlp").split(",").map((s) => s.trim().toLowerCase()).filter((s) => s !== "")
  const unknown = exporters.filter((e) => e !== "otlp" && e !== "none")
  if (unknown.length > 0) {
    out.push(
      `OTEL_TRACES_EXPORTER names ${unknown.join(", ")}, which K2 does not have (it exports otlp, or none): ` +
        (exporters.includes("otlp") ? "exporting otlp alone" : "traces are not exported")
    )
  }
  // A timeout is read only when spans are exported.
  if (configFromEnv(service, env) !== undefined) {
    const traces = setting(env, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT")
    const general = setting(env, "OTEL_EXPORTER_OTLP_TIMEOUT")
    const ignored = (name: string, value: string) => `${name}=${value} is not a whole number of milliseconds above 0: ignored`
    if (traces !== undefined && millis(traces) === undefined) out.push(ignored("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", traces))
    if (general !== undefined && millis(general) === undefined && (traces === undefined || millis(traces) === undefined)) {
      out.push(ignored("OTEL_EXPORTER_OTLP_TIMEOUT", general))
    }
  }
  return out
}

/**
 * A header fetch would refuse on every export, named with its variable but without its value, or
 * undefined: the exporter's error (logged at debug level) echoed a value with a line break whole,
 * a token in `Authorization=Bearer ...` with it, and no span was exported.
 */
const unsendableHeader = (headers: Record<string, string>, env: NodeJS.ProcessEnv): string | undefined => {
  for (const [name, value] of Object.entries(headers)) {
    const at = unsendableHeaderValue(value)
    if (at === undefined) continue
    const from = name in pairs(env["OTEL_EXPORTER_OTLP_TRACES_HEADERS"]) ? "OTEL_EXPORTER_OTLP_TRACES_HEADERS" : "OTEL_EXPORTER_OTLP_HEADERS"
    return `the value of header ${JSON.stringify(name)} (from ${from}) holds ${at}, which no HTTP header carries`
  }
  return undefined
}

const isHttpUrl = (url: string) => /^https?:\/\/[^/]/i.test(url) && URL.canParse(url)

/** A request that has no response after `ms` is a transport error (the exporter's retry treats it as transient). */
const withTimeout = (ms: number) => (client: HttpClient.HttpClient): HttpClient.HttpClient =>
  HttpClient.transform(client, (response, request) =>
    Effect.timeoutOrElse(response, {
      duration: Duration.millis(ms),
      orElse: () =>
        Effect.fail(
          new HttpClientError.HttpClientError({
            reason: new HttpClientError.TransportError({ request, description: `no response within ${ms} ms` })
          })
        )
    })
  )

/** Exports the program's spans over OTLP/HTTP (JSON) when configured; nothing otherwise. */
export const tracingLayer = (service: string, env: NodeJS.ProcessEnv = process.env): Layer.Layer<never> => {
  const warnings = settingWarnings(service, env)
  const exporter = exporterLayer(service, env)
  return warnings.length === 0
    ? exporter
    : Layer.provideMerge(exporter, Layer.effectDiscard(Effect.forEach(warnings, (w) => Effect.logWarning(`traces: ${w}`), { discard: true })))
}

const exporterLayer = (service: string, env: NodeJS.ProcessEnv): Layer.Layer<never> => {
  const config = configFromEnv(service, env)
  if (config === undefined) return Layer.empty
  // The variable in effect for a setting: the traces-specific one when set.
  const specific = (name: string) =>
    setting(env, `OTEL_EXPORTER_OTLP_TRACES_${name}`) === undefined ? `OTEL_EXPORTER_OTLP_${name}` : `OTEL_EXPORTER_OTLP_TRACES_${name}`
  const protocolVariable = specific("PROTOCOL")
  // Trimmed: `grpc ` sent JSON to a gRPC port, each export failing at debug level only.
  const protocol = setting(env, protocolVariable)
  // The exporter would fail every export and say so only at debug level: such settings are
  // ignored with a warning, as the spec asks.
  const problem = !isHttpUrl(config.url)
    ? `${withoutCredentials(config.url)} (from ${specific("ENDPOINT")}) is not an http:// or https:// URL`
    // A collector's HTTP port takes JSON as well as protobuf; its gRPC port takes neither.
    : protocol?.toLowerCase() === "grpc"
    ? `${protocolVariable}=${protocol}, but K2 exports OTLP/HTTP only (set http/json and the collector's HTTP port, 4318)`
    : unsendableHeader(config.headers, env)
  if (problem !== undefined) return Layer.effectDiscard(Effect.logWarning(`traces are not exported: ${problem}`))
  return OtlpTracer.layer({
    url: config.url,
    headers: config.headers,
    resource: { serviceName: config.serviceName, serviceVersion: config.serviceVersion, attributes: config.attributes }
  }).pipe(
    Layer.provide(OtlpSerialization.layerJson),
    // Each request is given up after the timeout (the exporter retries, then pauses): fetch alone
    // would wait 5 minutes on a collector that accepts and never answers, holding every batch.
    Layer.provide(Layer.effect(HttpClient.HttpClient, Effect.map(HttpClient.HttpClient, withTimeout(config.timeoutMs))).pipe(
      Layer.provide(FetchHttpClient.layer)
    ))
  )
}

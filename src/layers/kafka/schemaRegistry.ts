/**
 * SchemaRegistry layers: a Confluent-compatible HTTP client (fetch) and the embedded registry
 * (fixed ids from the repo's schema files: trade = 1, quote = 2, instrument = 3).
 */
import { Effect, Layer } from "effect"
import { makeWireCodec, type WireCodec } from "../../domain/avro/codec.ts"
import { causesText } from "../catalog/failureText.ts"
import { EMBEDDED_SCHEMA_IDS, instrumentSchema, type MessageKind, quoteSchema, tradeSchema } from "../../domain/avro/schemas.ts"
import { splitCredentials } from "../../domain/urlCredentials.ts"
import { TRUST_HINT, untrustedCertificate } from "../untrustedCertificate.ts"
import { parseInstrumentsTopicName, parseTopicName, valueSubject } from "../../domain/wire.ts"
import {
  IncompatibleSchema,
  type RegisteredSchema,
  RegistryRejected,
  registryError,
  RegistryUnavailable,
  SchemaNotFound,
  SchemaRegistry,
  type SchemaRegistryError
} from "../../services/SchemaRegistry.ts"

const CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"

export interface HttpRegistryOptions {
  /**
   * e.g. http://127.0.0.1:8081 (Apicurio: http://host:8080/apis/ccompat/v7); https://key:secret@host
   * sends Basic auth. Redirects are not followed (RegistryUnavailable naming their target).
   */
  readonly url: string
  /** Per-request timeout. Default 10 s. */
  readonly timeoutMs?: number
  /** Extra headers (authorization). */
  readonly headers?: Readonly<Record<string, string>>
}

/** Canonical text of a schema for comparisons (key order as written). */
const canonical = (schema: object) => JSON.stringify(schema)

/**
 * The base URL without user info, and the Basic authorization that user info stands for
 * (`https://key:secret@host`, as Confluent's clients take it): fetch refuses a URL holding
 * credentials, and its error echoed the password. Not an http(s) URL: why, without the URL.
 */
const registryTarget = (url: string): { readonly base: string; readonly authorization?: string } | string => {
  const parsed = URL.parse(url)
  if (parsed === null || (parsed.protocol !== "http:" && parsed.protocol !== "https:")) {
    return `the registry URL is not an http(s) URL such as http://127.0.0.1:8081${parsed === null ? "" : ` (scheme ${parsed.protocol})`}`
  }
  const { url: bare, authorization } = splitCredentials(url)
  const base = bare.replace(/\/+$/, "")
  return authorization === undefined ? { base } : { base, authorization }
}

/** A registry's JSON answer (an error's code and message, or the request's result). */
type RegistryAnswer = { error_code?: number; message?: string } & Record<string, unknown>

/** Where a redirect points, as an absolute URL without user info or query (which may hold secrets). */
const redirectTarget = (base: string, location: string | undefined): string => {
  const url = location === undefined ? null : URL.parse(location, `${base}/`)
  if (url === null) return "no valid location"
  url.username = ""
  url.password = ""
  url.search = ""
  url.hash = ""
  return url.href
}

/**
 * How a request meets a fault of the settings (credentials refused, a certificate not trusted),
 * which waiting will not mend: `refuse` (RegistryRejected: the lookups and registrations a program
 * starts with, which were retried for ever) or `wait` (RegistryUnavailable: a writer schema met
 * while ingesting, whose records a refusal would dead-letter; the key may be put right meanwhile).
 */
type SettingsFault = "refuse" | "wait"

export const layerHttp = (options: HttpRegistryOptions) =>
  Layer.sync(SchemaRegistry)(() => {
    const target = registryTarget(options.url)
    const byId = new Map<number, object>()
    const sendsCredentials = typeof target !== "string" && (target.authorization !== undefined ||
      Object.keys(options.headers ?? {}).some((h) => h.toLowerCase() === "authorization"))

    /** A fault of the settings, as `onFault` says, in words naming what to fix. */
    const settingsFault = (onFault: SettingsFault, detail: string) =>
      registryError(onFault === "refuse" ? new RegistryRejected({ detail }) : new RegistryUnavailable({ detail }))

    const request = (
      method: "GET" | "POST",
      path: string,
      what: string,
      subject: string,
      body?: unknown,
      onFault: SettingsFault = "refuse"
    ) =>
      typeof target === "string" ? Effect.fail(registryError(new RegistryRejected({ detail: target }))) : Effect.tryPromise({
        try: async (signal) => {
          const res = await fetch(`${target.base}${path}`, {
            method,
            headers: {
              accept: CONTENT_TYPE,
              "content-type": CONTENT_TYPE,
              ...(target.authorization === undefined ? {} : { authorization: target.authorization }),
              ...options.headers
            },
            ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
            signal: AbortSignal.any([signal, AbortSignal.timeout(options.timeoutMs ?? 10_000)]),
            // Followed, a 301/302 turned a registration's POST into a GET (whose answer, the
            // subject's versions, holds no id) and one to another origin dropped the credentials.
            redirect: "manual"
          })
          if (res.status >= 300 && res.status < 400) {
            await res.body?.cancel()
            const none: RegistryAnswer = {}
            return { status: res.status, json: none, location: res.headers.get("location") ?? undefined }
          }
          const text = await res.text()
          let json: RegistryAnswer = {}
          try {
            const parsed: unknown = text.length > 0 ? JSON.parse(text) : {}
            // `null` or an array is no registry answer either (and null would be read as one).
            json = parsed !== null && typeof parsed === "object" && !Array.isArray(parsed) ? parsed as RegistryAnswer : { message: text }
          } catch {
            json = { message: text }
          }
          return { status: res.status, json, location: undefined }
        },
        // fetch's own message is "fetch failed": the reason (a refused connection, an unknown
        // host, a certificate) is down its causes.
        catch: (e) => {
          const untrusted = untrustedCertificate(e)
          if (untrusted !== undefined) {
            return settingsFault(
              onFault,
              `${method} ${path}: the registry's TLS certificate is not trusted (${untrusted}): ${TRUST_HINT}, or correct the host of K2_SCHEMA_REGISTRY_URL`
            )
          }
          return registryError(new RegistryUnavailable({
            detail: `${method} ${path}: ${
              e instanceof Error && e.name === "TimeoutError"
                ? `no answer within ${options.timeoutMs ?? 10_000} ms`
                : e instanceof Error
                ? causesText(e)
                : String(e)
            }`
          }))
        }
      }).pipe(
        Effect.flatMap(({ json, location, status }): Effect.Effect<Record<string, unknown>, SchemaRegistryError> => {
          if (status >= 200 && status < 300) return Effect.succeed(json)
          // Not the registry's answer, as a 404 without its code: waited for (a record's schema
          // id is not dead-lettered for it), with the URL to configure in the warning and error.
          if (status >= 300 && status < 400) {
            return Effect.fail(registryError(new RegistryUnavailable({
              detail: `${method} ${path}: the registry URL redirects (${status}) to ${redirectTarget(target.base, location)}: configure the URL it points to`
            })))
          }
          const detail = `${status} ${json.error_code ?? ""} ${String(json.message ?? "").slice(0, 200)}`.trim()
          // A 404 the registry itself explains (40401 subject, 40402 version, 40403 schema); one
          // without its error code comes from something else at that URL (a proxy, a wrong path).
          const registrySays = typeof json.error_code === "number" && Math.floor(json.error_code / 100) === 404
          if (status === 404 && registrySays) return Effect.fail(registryError(new SchemaNotFound({ what: `${what} (${detail})` })))
          if (status === 409) return Effect.fail(registryError(new IncompatibleSchema({ subject, detail })))
          if (status === 401 || status === 403) {
            const refused = status === 401
              ? `the registry refused ${sendsCredentials ? "K2's credentials" : "a request without credentials"}`
              : "the registry's key may not do this"
            return Effect.fail(settingsFault(
              onFault,
              `${method} ${path}: ${detail}: ${refused}: check the user info of K2_SCHEMA_REGISTRY_URL (https://<key>:<secret>@host)`
            ))
          }
          // Also a 404 that is not the registry's: a record's schema id is then waited for, not
          // judged unknown and dead-lettered.
          if (status >= 500 || status === 408 || status === 429 || status === 404) {
            return Effect.fail(registryError(new RegistryUnavailable({ detail: `${method} ${path}: ${detail}` })))
          }
          return Effect.fail(registryError(new RegistryRejected({ detail })))
        })
      )

    /** The schema id of a 2xx answer; an answer without one did not come from a registry. */
    const idIn = (json: Record<string, unknown>, what: string): Effect.Effect<number, SchemaRegistryError> =>
      typeof json.id === "number" && Number.isSafeInteger(json.id) && json.id >= 0 && json.id <= 0x7fffffff
        ? Effect.succeed(json.id)
        : Effect.fail(registryError(new RegistryRejected({
          detail: `${what}: the answer holds no schema id (${JSON.stringify(json).slice(0, 200)})`
        })))

    const registered = (subject: string, json: Record<string, unknown>, schema?: object) =>
      Effect.gen(function*() {
        return {
          subject: String(json.subject ?? subject),
          id: yield* idIn(json, `schema under ${subject}`),
          version: Number(json.version),
          schema: schema ?? (yield* Effect.try({
            try: () => JSON.parse(String(json.schema)) as object,
            catch: () => registryError(new RegistryRejected({ detail: `schema under ${subject} is not an Avro schema` }))
          }))
        } satisfies RegisteredSchema
      })

    const enc = encodeURIComponent

    return SchemaRegistry.of({
      kind: "http",
      register: Effect.fn("SchemaRegistry.register")(function*(subject: string, schema: object) {
        const json = yield* request("POST", `/subjects/${enc(subject)}/versions`, subject, subject, {
          schemaType: "AVRO",
          schema: canonical(schema)
        })
        const id = yield* idIn(json, `registering under ${subject}`)
        byId.set(id, schema)
        return id
      }),
      lookup: Effect.fn("SchemaRegistry.lookup")(function*(subject: string, schema: object) {
        const json = yield* request("POST", `/subjects/${enc(subject)}`, `schema under ${subject}`, subject, {
          schemaType: "AVRO",
          schema: canonical(schema)
        })
        const found = yield* registered(subject, json, schema)
        byId.set(found.id, schema)
        return found
      }),
      schemaById: Effect.fn("SchemaRegistry.schemaById")(function*(id: number) {
        // Registry ids are Java ints: a framing with a larger one (a poison record) has no schema,
        // and registries answer such a path with a bare 404, which reads as unreachable.
        if (!Number.isSafeInteger(id) || id < 0 || id > 0x7fffffff) {
          return yield* Effect.fail(registryError(new SchemaNotFound({ what: `schema id ${id} (not a registry id)` })))
        }
        const cached = byId.get(id)
        if (cached !== undefined) return cached
        const json = yield* request("GET", `/schemas/ids/${id}`, `schema id ${id}`, "", undefined, "wait")
        // A 2xx without schema text is not the registry speaking (a proxy's or login page): wait
        // for it, as for a 404 without the registry's code, rather than dead-letter the id.
        if (typeof json.schema !== "string") {
          return yield* Effect.fail(registryError(new RegistryUnavailable({
            detail: `GET /schemas/ids/${id}: the answer holds no schema (${JSON.stringify(json).slice(0, 200)})`
          })))
        }
        // Confluent leaves schemaType out for Avro. A JSON Schema is JSON too: it was taken for a
        // writer schema, refused later as "not a named record" (the reason not saying why).
        const schemaType = json.schemaType
        if (schemaType !== undefined && schemaType !== null && String(schemaType).toUpperCase() !== "AVRO") {
          return yield* Effect.fail(registryError(new RegistryRejected({
            detail: `schema id ${id} is a ${String(schemaType).slice(0, 40)} schema, not Avro`
          })))
        }
        // Another schema type (Protobuf) is not JSON: a refusal, not a defect.
        const schema = yield* Effect.try({
          try: () => {
            const parsed: unknown = JSON.parse(json.schema as string)
            if (parsed === null || typeof parsed !== "object") throw new Error("not an object")
            return parsed as object
          },
          catch: () => registryError(new RegistryRejected({ detail: `schema id ${id} is not an Avro schema (${String(json.schemaType)})` }))
        })
        byId.set(id, schema)
        return schema
      }),
      latest: Effect.fn("SchemaRegistry.latest")(function*(subject: string) {
        const json = yield* request("GET", `/subjects/${enc(subject)}/versions/latest`, `latest of ${subject}`, subject)
        return yield* registered(subject, json)
      })
    })
  })

/** The message kind a `<topic>-value` subject holds, from the topic name. */
export const kindOfSubject = (subject: string): MessageKind | undefined => {
  if (!subject.endsWith("-value")) return undefined
  const topic = subject.slice(0, -"-value".length)
  if (parseInstrumentsTopicName(topic) !== undefined) return "instrument"
  const address = parseTopicName(topic)
  return address === undefined ? undefined : address.dataType === "trades" ? "trade" : "quote"
}

export const layerEmbedded = Layer.succeed(SchemaRegistry)((() => {
  const schemas: Record<MessageKind, object> = { trade: tradeSchema, quote: quoteSchema, instrument: instrumentSchema }
  const kindOf = (subject: string) =>
    Effect.fromNullishOr(kindOfSubject(subject)).pipe(
      Effect.mapError(() => registryError(new SchemaNotFound({ what: `subject ${subject} (not a market topic)` })))
    )
  const matching = (subject: string, schema: object) =>
    Effect.flatMap(kindOf(subject), (kind) =>
      canonical(schema) === canonical(schemas[kind])
        ? Effect.succeed(kind)
        : Effect.fail(registryError(new IncompatibleSchema({ subject, detail: "the embedded registry only holds the repo's schemas" }))))
  return SchemaRegistry.of({
    kind: "embedded",
    register: (subject, schema) => Effect.map(matching(subject, schema), (kind) => EMBEDDED_SCHEMA_IDS[kind]),
    lookup: (subject, schema) =>
      Effect.map(matching(subject, schema), (kind) => ({ subject, id: EMBEDDED_SCHEMA_IDS[kind], version: 1, schema })),
    schemaById: (id) => {
      const kind = (Object.keys(EMBEDDED_SCHEMA_IDS) as Array<MessageKind>).find((k) => EMBEDDED_SCHEMA_IDS[k] === id)
      return kind === undefined
        ? Effect.fail(registryError(new SchemaNotFound({ what: `schema id ${id}` })))
        : Effect.succeed(schemas[kind])
    },
    latest: (subject) =>
      Effect.map(kindOf(subject), (kind) => ({ subject, id: EMBEDDED_SCHEMA_IDS[kind], version: 1, schema: schemas[kind] }))
  })
})())

/**
 * The id of `schema` under `subject`: looked up first, registered only when the subject does not
 * hold it yet. A consumer's key commonly may only read (Confluent Cloud's DeveloperRead, a
 * subject in READONLY mode): registering what the producer already registered was refused (403),
 * and ingest could not start.
 */
export const schemaIdFor = Effect.fn("SchemaRegistry.schemaIdFor")(function*(subject: string, schema: object) {
  const registry = yield* SchemaRegistry
  return yield* registry.lookup(subject, schema).pipe(
    Effect.map((found) => found.id),
    Effect.catchIf((e) => e.reason._tag === "SchemaNotFound", () => registry.register(subject, schema))
  )
})

/**
 * A codec whose writer ids are the registry's ids for these topics' subjects (looked up, and
 * the repo's schemas registered when a subject lacks them). Unknown ids met while decoding can be
 * taught to it with `codec.addWriterSchema(id, kind, yield* registry.schemaById(id))`.
 */
export const wireCodecFor = Effect.fn("SchemaRegistry.wireCodecFor")(function*(topics: {
  readonly trades: string
  readonly quotes: string
  readonly instruments?: string
}) {
  const tradeSchemaId = yield* schemaIdFor(valueSubject(topics.trades), tradeSchema)
  const quoteSchemaId = yield* schemaIdFor(valueSubject(topics.quotes), quoteSchema)
  // Without an instruments subject the registry gave no instrument id: the embedded 3 may be any
  // schema there (ours for trades, or another version of it), so the codec gets none.
  const instrumentSchemaId = topics.instruments === undefined
    ? null
    : yield* schemaIdFor(valueSubject(topics.instruments), instrumentSchema)
  const codec: WireCodec = makeWireCodec({ tradeSchemaId, quoteSchemaId, instrumentSchemaId })
  return codec
})

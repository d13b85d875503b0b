/**
 * `GET /v1/config`, the first request: its refusals as the settings' fault, and what its answer
 * says (the endpoints the server offers, the path prefix it chose, the base URI it overrides).
 */
import { Effect } from "effect"
import { withoutCredentials } from "../../domain/urlCredentials.ts"
import { catalogError, CatalogRejected } from "../../services/Catalog.ts"
import { errorMessage, unexpected } from "./restErrors.ts"
import type { Reply } from "./restReply.ts"
import type { RestCatalogOptions } from "./restOptions.ts"

/**
 * `GET /v1/config` not answered 200. It is the first request, so its refusals are the settings'
 * fault and waiting will not mend them: credentials refused (401, 403, or 419 with none to renew;
 * a credential was already renewed once by `call`), or no catalog at that URI, prefix or warehouse (404).
 * Otherwise as any request (`unexpected`): a server failing or shedding load (5xx, 408, 429) may pass.
 */
export const configFailure = (reply: Reply, base: string, options: RestCatalogOptions) => {
  const what = `GET /v1/config at ${base}: ${errorMessage(reply)}`
  if ([401, 403, 419].includes(reply.status)) {
    const sent = options.token !== undefined || options.credential !== undefined ? "K2's credentials" : "a request without credentials"
    return catalogError(new CatalogRejected({
      detail: `${what}: the catalog refused ${sent}: check the token or client credentials (K2_REST_TOKEN, K2_REST_CREDENTIAL)`
    }))
  }
  if (reply.status === 404) {
    return catalogError(new CatalogRejected({
      detail: `${what}: no Iceberg REST catalog answers there: check the catalog URI (the address /v1/config is under)${
        options.warehouse === undefined ? "" : ` and the warehouse ${options.warehouse}`
      }`
    }))
  }
  return unexpected("GET /v1/config", reply)
}

/** The server's answer to `GET /v1/config`: the endpoints it offers, and the root of its paths. */
export const serverConfig = (answer: Record<string, unknown>) => {
  const { overrides, defaults, endpoints } = answer as {
    overrides?: Record<string, unknown> | null
    defaults?: Record<string, unknown> | null
    endpoints?: unknown
  }
  // HEAD for existence is not in the spec's default endpoint set: a server that does not advertise
  // it (Iceberg 1.7 and older, others) is asked with GET, as Iceberg Java does.
  const advertised = new Set(Array.isArray(endpoints) ? endpoints.filter((e): e is string => typeof e === "string") : [])
  const existenceMethod = (path: string) => advertised.has(`HEAD ${path}`) ? "HEAD" as const : "GET" as const
  // A server that advertises its endpoints (a read-only one, say) is not sent a change it leaves out, as
  // Iceberg Java does: its 404 for the unknown route would read as "no such table".
  const offered = (endpoint: string) =>
    advertised.size === 0 || advertised.has(endpoint)
      ? Effect.void
      : Effect.fail(catalogError(new CatalogRejected({ detail: `the server does not offer ${endpoint}` })))
  const namespaceExistsMethod = existenceMethod("/v1/{prefix}/namespaces/{namespace}")
  const tableExistsMethod = existenceMethod("/v1/{prefix}/namespaces/{namespace}/tables/{table}")
  // The prefix is a path fragment the server chose, used as given (as Iceberg's ResourcePaths
  // does): it may hold a slash (Glue's `catalogs/<id>`) or be encoded already (an S3 Tables ARN).
  const configured = overrides?.prefix ?? defaults?.prefix
  const prefix = typeof configured === "string" ? configured.replace(/^\/+|\/+$/g, "") : undefined
  const root = prefix === undefined || prefix === "" ? "/v1" : `/v1/${prefix}`
  // Only an override moves the base: the client's own URI wins over the server's defaults.
  const uri = typeof overrides?.uri === "string" ? overrides.uri : undefined
  return { offered, namespaceExistsMethod, tableExistsMethod, root, uri }
}

/**
 * The base of every request after `GET /v1/config` when the server's `overrides.uri` moves it (the
 * spec's overrides apply over the client's configuration; Iceberg Java builds its client from them),
 * without trailing slashes. One that is no http(s) URL, holds user info fetch refuses, or would take
 * K2's credentials from https down to http (as a redirect never does, restTransport.ts), is refused.
 */
export const overriddenBase = (uri: string, base: string) => {
  const parsed = URL.parse(uri)
  const problem = parsed === null || (parsed.protocol !== "http:" && parsed.protocol !== "https:") || parsed.username !== "" || parsed.password !== ""
    ? "is no http(s) URL without user info"
    : parsed.protocol === "http:" && URL.parse(base)?.protocol === "https:"
    ? `would take requests from https (${base}) down to http`
    : undefined
  return problem === undefined
    ? Effect.succeed(uri.replace(/\/+$/, ""))
    : Effect.fail(catalogError(new CatalogRejected({
      detail: `GET /v1/config: the server's overrides.uri ${JSON.stringify(withoutCredentials(uri))} ${problem}: the server's configuration must be corrected`
    })))
}

/**
 * What an Iceberg REST catalog's answer says as a typed catalog error: its words (an Iceberg
 * ErrorModel, an OAuth2 error), and the statuses that refuse a request for good (CatalogRejected)
 * or may pass (CatalogUnavailable). The statuses an operation expects are mapped where it is sent.
 */
import { Effect } from "effect"
import { type CatalogError, catalogError, CatalogRejected, CatalogUnavailable } from "../../services/Catalog.ts"
import type { Reply } from "./restReply.ts"

export const errorMessage = (reply: Reply): string => {
  if (reply.status >= 300 && reply.status < 400) {
    // Left unfollowed: a change (POST, DELETE) answered with 301/302/303, and a redirect without a Location.
    return reply.location === undefined
      ? `${reply.status}: a redirect without a Location`
      : `${reply.status}: the server redirects to ${reply.location}, and a change is not resent there as a GET: configure that address instead`
  }
  try {
    const body = JSON.parse(reply.text) as { error?: string | { message?: string; type?: string }; error_description?: string }
    // An OAuth2 token endpoint's error is a code, its words beside it (RFC 6749 5.2).
    if (typeof body.error === "string") return `${reply.status} ${body.error}: ${body.error_description ?? ""}`.trim()
    if (body.error !== undefined) return `${reply.status} ${body.error.type ?? ""}: ${body.error.message ?? ""}`.trim()
  } catch {
    // not JSON
  }
  return `${reply.status} ${reply.text.slice(0, 300)}`
}

/** The `type` of an Iceberg ErrorModel answer (`NamespaceNotEmptyException`), if it is one. */
export const errorType = (reply: Reply): string | undefined => {
  try {
    const body = JSON.parse(reply.text) as { error?: { type?: unknown } }
    return typeof body.error === "object" && body.error !== null && typeof body.error.type === "string" ? body.error.type : undefined
  } catch {
    return undefined
  }
}

/**
 * A snapshot numbered at or below the table's last: built on a base another commit has since passed
 * (one staged, or on another branch), so a conflict. Iceberg 1.10's server answers it with a 400
 * ValidationException; later ones with 409 (apache/iceberg#15126), as the SQL catalog does. So is a
 * snapshot id taken since: K2 draws one its base does not hold, and the retry draws on the new base.
 */
export const staleSnapshot = (reply: Reply) =>
  reply.status === 400 &&
  (errorMessage(reply).includes("older than last sequence number") || errorMessage(reply).includes("Snapshot already exists for id"))

/** Statuses saying the credentials expired: the request was not processed (the spec's 419 is AuthenticationTimeout). */
export const expiredCredentials = (status: number) => status === 401 || status === 419

/** 501: the server does not implement the request, so carried out none of it. */
export const NOT_IMPLEMENTED = 501

export const unavailable = (detail: string) => catalogError(new CatalogUnavailable({ detail }))
/** A body that should be a JSON object: anything else (a proxy's HTML page) is the server failing, typed. */
export const jsonObject = (reply: Reply, what: string): Effect.Effect<Record<string, unknown>, CatalogError> => {
  try {
    const body: unknown = JSON.parse(reply.text)
    if (typeof body === "object" && body !== null && !Array.isArray(body)) return Effect.succeed(body as Record<string, unknown>)
  } catch {
    // not JSON
  }
  return Effect.fail(unavailable(`${what}: the answer is not a JSON object: ${reply.text.slice(0, 200)}`))
}

/**
 * An answer the operation does not expect: a 4xx refuses the request for good, except those
 * that may pass (credentials renewed, a timeout, a rate limit), and so does a redirect not followed
 * (the URI is wrong) or a 501 (the server does not implement it); anything else is the server failing.
 */
export const unexpected = (what: string, reply: Reply) =>
  (reply.status >= 300 && reply.status < 400) || reply.status === NOT_IMPLEMENTED ||
    (reply.status >= 400 && reply.status < 500 && ![401, 403, 408, 419, 429].includes(reply.status))
    ? catalogError(new CatalogRejected({ detail: `${what}: ${errorMessage(reply)}` }))
    : unavailable(`${what}: ${errorMessage(reply)}`)

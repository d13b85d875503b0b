/**
 * A TLS peer the client did not trust (a private CA not given, an expired certificate, a name the
 * certificate does not hold): waiting will not change it, so every outbound client (Kafka, the
 * schema registry, the REST and PostgreSQL catalogs) fails on it at once, naming the setting to fix,
 * rather than waiting it out as a server that is down (ADR-54, ADR-59).
 */

/** Node's codes of a certificate the client did not trust. */
const UNTRUSTED_CERTIFICATE: ReadonlySet<string> = new Set([
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_UNTRUSTED",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_REVOKED",
  "CERT_SIGNATURE_FAILURE",
  "CERT_CHAIN_TOO_LONG",
  "INVALID_CA",
  "ERR_TLS_CERT_ALTNAME_INVALID"
])

/** An error of a client's error tree, as far as K2 reads one. */
export interface ErrorNode {
  readonly name?: string
  readonly code?: string | number
  readonly type?: string
  readonly apiId?: string
  readonly message?: string
  readonly errors?: ReadonlyArray<unknown>
  readonly cause?: unknown
}

/** Every error of `error`'s tree: itself, its aggregates' (`errors`) and causes', depth first. */
export const errorNodes = (error: unknown, out: Array<ErrorNode> = [], depth = 0): Array<ErrorNode> => {
  if (error === null || typeof error !== "object" || depth > 10) return out
  const node = error as ErrorNode
  out.push(node)
  if (Array.isArray(node.errors)) for (const x of node.errors) errorNodes(x, out, depth + 1)
  if (node.cause !== undefined) errorNodes(node.cause, out, depth + 1)
  return out
}

/**
 * The untrusted-certificate failure down `error`'s causes and aggregates (fetch's "fetch failed",
 * an HTTP client's wrapper, pg's own error), as `CODE: message`; undefined for any other failure.
 */
export const untrustedCertificate = (error: unknown): string | undefined => {
  const node = errorNodes(error).find((n) => typeof n.code === "string" && UNTRUSTED_CERTIFICATE.has(n.code))
  return node === undefined ? undefined : `${node.code}: ${node.message ?? ""}`
}

/** What to do about an untrusted certificate of an HTTPS or PostgreSQL server K2 reaches by URL. */
export const TRUST_HINT = "give the CA that signed it in NODE_EXTRA_CA_CERTS (a PEM file, read when the process starts)"

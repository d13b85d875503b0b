/**
 * A TLS peer the client did not trust (a private CA not given, an expired certificate, a name the
 * certificate does not hold): waiting will not change it, so every outbound client (Kafka, the
 * schema registry, the REST and PostgreSQL catalogs) fails on it at once, naming the setting to fix,
 * rather than waiting it out as a server that is down (ADR-54, ADR-59).
 */

/** Node's codes of a certificate the client did not trust. */
export const UNTRUSTED_CERTIFICATE: ReadonlySet<string> = new Set([
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

interface Node {
  readonly code?: unknown
  readonly message?: unknown
  readonly errors?: unknown
  readonly cause?: unknown
}

/**
 * The untrusted-certificate failure down `error`'s causes and aggregates (fetch's "fetch failed",
 * an HTTP client's wrapper, pg's own error), as `CODE: message`; undefined for any other failure.
 */
export const untrustedCertificate = (error: unknown, depth = 0): string | undefined => {
  if (error === null || typeof error !== "object" || depth > 10) return undefined
  const node = error as Node
  if (typeof node.code === "string" && UNTRUSTED_CERTIFICATE.has(node.code)) {
    return `${node.code}: ${typeof node.message === "string" ? node.message : ""}`
  }
  for (const inner of Array.isArray(node.errors) ? node.errors : []) {
    const found = untrustedCertificate(inner, depth + 1)
    if (found !== undefined) return found
  }
  return untrustedCertificate(node.cause, depth + 1)
}

/** What to do about an untrusted certificate of an HTTPS or PostgreSQL server K2 reaches by URL. */
export const TRUST_HINT = "give the CA that signed it in NODE_EXTRA_CA_CERTS (a PEM file, read when the process starts)"

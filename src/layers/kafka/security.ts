/**
 * A secured cluster (ADR-54): the TLS and SASL settings both Kafka layers take, and what their
 * failures say. A refused password or an untrusted certificate will not go away by waiting: they
 * are KafkaRejected (not retried as a broker that is down), in words that name the setting to fix.
 * The password and the client key are Redacted: shown, logged or serialised, they read <redacted>.
 */
import { isIP } from "node:net"
import { Redacted } from "effect"
import { type KafkaError, kafkaError, KafkaRejected, KafkaUnavailable } from "../../services/KafkaSource.ts"
import { type ErrorNode, errorNodes, untrustedCertificate } from "../untrustedCertificate.ts"

export const SASL_MECHANISMS = ["plain", "scram-sha-256", "scram-sha-512"] as const
export type SaslMechanism = (typeof SASL_MECHANISMS)[number]

export interface KafkaTls {
  /** PEM of the CAs the brokers' certificates are checked against; none: Node's own roots. */
  readonly ca?: string
  /** Where `ca` came from, named when a certificate is not trusted. */
  readonly caFile?: string
  /** PEM certificate and key of the client, for brokers that ask for one (mutual TLS). */
  readonly cert?: string
  readonly key?: Redacted.Redacted<string>
}

interface KafkaSasl {
  readonly mechanism: SaslMechanism
  readonly username: string
  readonly password: Redacted.Redacted<string>
}

/** How the clients reach the brokers: PLAINTEXT when empty. */
export interface KafkaSecurity {
  readonly tls?: KafkaTls
  readonly sasl?: KafkaSasl
}

/** Node's TLS options of `tls`. */
const tlsOptions = (tls: KafkaTls) => ({
  ...(tls.ca === undefined ? {} : { ca: [tls.ca] }),
  ...(tls.cert === undefined ? {} : { cert: tls.cert }),
  ...(tls.key === undefined ? {} : { key: Redacted.value(tls.key) })
})

/** kafkajs' `ssl` and `sasl` options. */
export const kafkajsSecurity = (security: KafkaSecurity | undefined) => ({
  ...(security?.tls === undefined ? {} : { ssl: tlsOptions(security.tls) }),
  ...(security?.sasl === undefined ? {} : {
    // One mechanism at a time for kafkajs' union of { mechanism } & credentials.
    sasl: { mechanism: security.sasl.mechanism as "plain", username: security.sasl.username, password: Redacted.value(security.sasl.password) }
  })
})

/** Whether a bootstrap server (host:port, or [v6]:port) names its host by an IP address. */
const byAddress = (broker: string) => isIP(broker.replace(/:\d+$/, "").replace(/^\[(.*)\]$/, "$1")) !== 0

/**
 * @platformatic/kafka's `tls` and `sasl` options: the password given by a function, read at each
 * authentication. platformatic sends no server name (SNI) unless told, unlike kafkajs, and clusters
 * behind one address (Confluent Cloud) route by it: each connection's host is sent, unless a
 * bootstrap server is an IP address (Node warns of an address as a server name; a cluster that
 * routes by name is reached by name).
 */
export const platformaticSecurity = (security: KafkaSecurity | undefined, brokers: ReadonlyArray<string> = []) => ({
  ...(security?.tls === undefined ? {} : { tls: tlsOptions(security.tls), ...(brokers.some(byAddress) ? {} : { tlsServerName: true }) }),
  ...(security?.sasl === undefined ? {} : {
    sasl: {
      mechanism: security.sasl.mechanism.toUpperCase() as "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512",
      username: security.sasl.username,
      password: ((password) => () => Redacted.value(password))(security.sasl.password)
    }
  })
})


/**
 * What platformatic says when a PLAINTEXT connection's first bytes back are a TLS record (a TLS
 * listener's alert, 40-250 ms in); kafkajs' connections say it the same way (`tlsRecordWatch`).
 */
export const TLS_REQUIRED = "Broker requires TLS."

/** Whether `chunk`, the first a PLAINTEXT connection received, is a TLS record (as platformatic checks). */
export const isTlsRecord = (chunk: Uint8Array): boolean =>
  chunk.length >= 3 && chunk[0]! >= 0x14 && chunk[0]! <= 0x17 && chunk[1] === 0x03 && chunk[2]! <= 0x04

const SASL_REFUSED = new Set(["SASL_AUTHENTICATION_FAILED"])
/** The listener takes no SASL, or not this mechanism. */
const SASL_NOT_TAKEN = new Set(["UNSUPPORTED_SASL_MECHANISM", "ILLEGAL_SASL_STATE"])

const idOf = (n: ErrorNode) => n.apiId ?? n.type

const rejected = (operation: string, detail: string) => kafkaError(new KafkaRejected({ operation, detail }))

/**
 * A failure of the connection's security, when `cause` is one: KafkaRejected saying which setting
 * to check, or KafkaUnavailable with a hint where the failure may also be a broker restarting.
 * Undefined for every other failure (the layer classifies it).
 */
export const securityFailure = (operation: string, cause: unknown, security: KafkaSecurity | undefined): KafkaError | undefined => {
  const nodes = errorNodes(cause)
  const sasl = security?.sasl
  const saslRefused = nodes.find((n) => n.name === "KafkaJSSASLAuthenticationError" || SASL_REFUSED.has(idOf(n) ?? ""))
  if (saslRefused !== undefined) {
    const who = sasl === undefined ? "" : ` for user ${sasl.username} (${sasl.mechanism.toUpperCase()})`
    return rejected(
      operation,
      `Kafka refused the SASL credentials${who}: ${(saslRefused.message ?? "").replace(/\.+$/, "")}. Check K2_KAFKA_SASL_USERNAME and K2_KAFKA_SASL_PASSWORD (or K2_KAFKA_SASL_PASSWORD_FILE)`
    )
  }
  const notTaken = nodes.find((n) => SASL_NOT_TAKEN.has(idOf(n) ?? "") || n.message === "Cannot find a suitable SASL mechanism.")
  if (notTaken !== undefined && sasl !== undefined) {
    return rejected(
      operation,
      `the broker's listener does not take SASL ${sasl.mechanism.toUpperCase()} (${notTaken.message}): a listener without SASL, or ` +
        `another mechanism; check K2_KAFKA_SASL_MECHANISM and the port of --brokers`
    )
  }
  const untrusted = untrustedCertificate(cause)
  if (untrusted !== undefined) {
    const ca = security?.tls?.caFile
    return rejected(
      operation,
      `the broker's TLS certificate is not trusted (${untrusted}): ` +
        (ca === undefined
          ? "K2_KAFKA_TLS_CA_FILE names the CA that signed it (none given: Node's own roots)"
          : `K2_KAFKA_TLS_CA_FILE (${ca}) does not hold the CA that signed it`)
    )
  }
  if (nodes.some((n) => n.message === TLS_REQUIRED)) {
    return rejected(operation, "the broker's listener wants TLS and the client spoke PLAINTEXT: set K2_KAFKA_TLS=on (K2_KAFKA_TLS_CA_FILE for a private CA)")
  }
  // A TLS client at a PLAINTEXT listener, or a broker going down in the handshake: an outage
  // until the first-contact wait runs out, saying which it may be.
  const handshake = nodes.find((n) => HANDSHAKE_CUT.test(n.message ?? ""))
  if (handshake !== undefined && security?.tls !== undefined) {
    return kafkaError(new KafkaUnavailable({ operation, detail: `${handshake.message}${hintFor(handshake.message ?? "", security)}` }))
  }
  return undefined
}

const HANDSHAKE_CUT = /before secure TLS connection was established/
const CLOSED = /^(?:Connection error: )?(?:Closed connection|Connection closed)/

/**
 * What a connection closed by the broker may mean, appended to a failure's message ("" when
 * nothing applies): a listener that wants TLS or SASL closes the connection of a client without,
 * and a PLAINTEXT listener the TLS handshake of one with. Only hints: a broker restarting does the same.
 */
export const hintFor = (message: string, security: KafkaSecurity | undefined): string => {
  if (HANDSHAKE_CUT.test(message) && security?.tls !== undefined) {
    return " (K2_KAFKA_TLS is on: a PLAINTEXT listener cuts the TLS handshake short; if it goes on, check the port of --brokers)"
  }
  if (!CLOSED.test(message) || (security?.tls !== undefined && security.sasl !== undefined)) return ""
  const missing = [security?.tls === undefined ? "TLS (K2_KAFKA_TLS)" : "", security?.sasl === undefined ? "SASL (K2_KAFKA_SASL_MECHANISM)" : ""]
    .filter((s) => s !== "")
  return ` (if it goes on: a listener that wants ${missing.join(" or ")} closes the connections without)`
}

/** A connection nothing took: no listener at that address (a broker killed or restarting), so none that wants TLS or SASL. */
const REFUSED = /\bECONNREFUSED\b/

/**
 * `hintFor` the first closed connection of a client's error tree; none when a connection of the
 * same failure was refused. A broker killed under a run closes its connections and refuses the next
 * ones, and its error read as a listener wanting TLS or SASL, which takes connections and closes them.
 */
export const closedConnectionHint = (cause: unknown, security: KafkaSecurity | undefined): string => {
  const nodes = errorNodes(cause)
  const closed = nodes.find((n) => n.name === "KafkaJSConnectionClosedError" || CLOSED.test(n.message ?? ""))
  if (closed === undefined || nodes.some((n) => REFUSED.test(`${n.code ?? ""} ${n.message ?? ""}`))) return ""
  return hintFor(closed.message ?? "", security)
}

/**
 * A secured cluster's failures as both layers classify them, without a broker (the errors as the
 * clients make them, seen against scripts/kafka.sh's SASL_SSL listener): a refused password or an
 * untrusted certificate is KafkaRejected (not waited out as a broker that is down) naming the
 * setting to fix; a closed connection stays an outage, with a hint. And the clients' options.
 */
import { AuthenticationError, MultipleErrors, NetworkError, ProtocolError, UserError } from "@platformatic/kafka"
import * as net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import kafkajs from "kafkajs"
import { layerKafkajs } from "../../../src/layers/kafka/kafkajs.ts"
import { fromKafkajs } from "../../../src/layers/kafka/kafkajsErrors.ts"
import { layerPlatformatic } from "../../../src/layers/kafka/platformatic.ts"
import { fromPlatformatic } from "../../../src/layers/kafka/platformaticErrors.ts"
import { isTlsRecord, type KafkaSecurity, kafkajsSecurity, platformaticSecurity } from "../../../src/layers/kafka/security.ts"
import { KafkaAdmin } from "../../../src/services/KafkaSink.ts"

const { KafkaJSConnectionError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError } = kafkajs
// Their types declare no message argument (nor the first at all), as the client makes them.
const KafkaJSSASLAuthenticationError = kafkajs.KafkaJSSASLAuthenticationError as unknown as new(message: string) => Error
const KafkaJSConnectionClosedError = (kafkajs as unknown as Record<string, new(message: string, details: object) => Error>)["KafkaJSConnectionClosedError"]!

const security: KafkaSecurity = {
  tls: { ca: "-----BEGIN CERTIFICATE-----\n", caFile: "/etc/k2/ca.pem" },
  sasl: { mechanism: "scram-sha-512", username: "alice", password: Redacted.make("s3cret-pw") }
}

/** What kafkajs' retrier rejects with once its retries are spent. */
const exhausted = (e: Error) => new KafkaJSNumberOfRetriesExceeded(e, { retryCount: 8, retryTime: 5_000 })

/** platformatic's error of a connection whose SASL authentication the broker refused. */
const pltRefused = () =>
  new MultipleErrors("Listing topics failed.", [
    new NetworkError("Connection to 127.0.0.1:9194 failed.", {
      cause: new AuthenticationError("SASL authentication failed.", {
        cause: new MultipleErrors("Received response with error while executing API SaslAuthenticate(v2)", [new ProtocolError("SASL_AUTHENTICATION_FAILED")])
      })
    })
  ])

/** A certificate Node did not trust, as a socket error. */
const untrusted = () => Object.assign(new Error("self-signed certificate in certificate chain"), { code: "SELF_SIGNED_CERT_IN_CHAIN" })

describe("a refused SASL authentication", () => {
  it("is rejected, naming the user and the settings, with either client", () => {
    const kj = fromKafkajs(
      "connect",
      new KafkaJSSASLAuthenticationError("SASL SCRAM SHA512 authentication failed: Authentication failed during authentication due to invalid credentials"),
      undefined,
      security
    )
    const plt = fromPlatformatic("listTopics", pltRefused(), undefined, security)
    for (const e of [kj, plt]) {
      assert.strictEqual(e.reason._tag, "KafkaRejected")
      assert.isFalse(e.retryable)
      assert.include(e.message, "Kafka refused the SASL credentials for user alice (SCRAM-SHA-512)")
      assert.include(e.message, "K2_KAFKA_SASL_PASSWORD")
      assert.notInclude(e.message, "s3cret-pw")
    }
  })

  it("a listener without SASL (or without this mechanism) is rejected, naming the mechanism setting", () => {
    const kj = fromKafkajs("connect", new KafkaJSProtocolError({ type: "ILLEGAL_SASL_STATE", code: 34, retriable: false, message: "Request is not valid given the current SASL state" } as never), undefined, security)
    const plt = fromPlatformatic(
      "listTopics",
      new NetworkError("Connection to 127.0.0.1:9192 failed.", { cause: new AuthenticationError("Cannot find a suitable SASL mechanism.") }),
      undefined,
      security
    )
    for (const e of [kj, plt]) {
      assert.strictEqual(e.reason._tag, "KafkaRejected")
      assert.include(e.message, "does not take SASL SCRAM-SHA-512")
      assert.include(e.message, "K2_KAFKA_SASL_MECHANISM")
    }
  })
})

describe("a broker certificate the client does not trust", () => {
  it("is rejected (kafkajs retried it as a broker that is down), naming the CA file", () => {
    const kj = fromKafkajs("connect", exhausted(new KafkaJSConnectionError(`Connection error: ${untrusted().message}`, { code: "SELF_SIGNED_CERT_IN_CHAIN" } as never)), undefined, security)
    const plt = fromPlatformatic("listTopics", new MultipleErrors("Listing topics failed.", [new NetworkError("Connection to 127.0.0.1:9194 failed.", { cause: untrusted() })]), undefined, security)
    for (const e of [kj, plt]) {
      assert.strictEqual(e.reason._tag, "KafkaRejected")
      assert.include(e.message, "TLS certificate is not trusted (SELF_SIGNED_CERT_IN_CHAIN")
      assert.include(e.message, "K2_KAFKA_TLS_CA_FILE (/etc/k2/ca.pem)")
    }
  })

  it("without a CA file, says that one names the CA", () => {
    const e = fromPlatformatic("listTopics", new NetworkError("Connection failed.", { cause: untrusted() }), undefined, { tls: {} })
    assert.include(e.message, "K2_KAFKA_TLS_CA_FILE names the CA that signed it (none given")
  })
})

describe("a listener of the other kind", () => {
  it("a TLS listener met in PLAINTEXT: platformatic sees it and is rejected, naming K2_KAFKA_TLS", () => {
    const e = fromPlatformatic("listTopics", new MultipleErrors("Listing topics failed.", [new UserError("Broker requires TLS.")]))
    assert.strictEqual(e.reason._tag, "KafkaRejected")
    assert.include(e.message, "set K2_KAFKA_TLS=on")
  })

  it.live("a TLS listener met in PLAINTEXT ends the first connect of either client, rejected and naming K2_KAFKA_TLS", () =>
    Effect.gen(function*() {
      // What a TLS listener answers a ClientHello it cannot read as one: a fatal alert, then it closes.
      const alert = Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28])
      const server = net.createServer((socket) => socket.once("data", () => socket.end(alert)))
      yield* Effect.acquireRelease(
        Effect.callback<void>((resume) => void server.listen(0, "127.0.0.1", () => resume(Effect.void))),
        () => Effect.sync(() => void server.close())
      )
      const brokers = [`127.0.0.1:${(server.address() as net.AddressInfo).port}`]
      for (const layer of [layerKafkajs({ brokers }), layerPlatformatic({ brokers })]) {
        // kafkajs took the alert for the length of a response, then retried the closed connection
        // as an outage for its whole connect (16 s and more), past any short --broker-wait.
        const e = yield* Effect.flip(Effect.flatMap(KafkaAdmin, (admin) => admin.listTopics()).pipe(Effect.provide(layer)))
        assert.strictEqual(e.reason._tag, "KafkaRejected", e.message)
        assert.include(e.message, "set K2_KAFKA_TLS=on")
      }
      assert.isTrue(isTlsRecord(alert))
      // A Kafka response's length (a few hundred bytes) is no TLS record.
      assert.isFalse(isTlsRecord(Buffer.from([0x00, 0x00, 0x01, 0x2c])))
    }).pipe(Effect.scoped), 60_000)

  it("a connection closed without TLS or SASL is an outage (a broker restarting does it too), with a hint", () => {
    const e = fromKafkajs("connect", new KafkaJSConnectionClosedError("Closed connection", { host: "h", port: 1 }))
    assert.strictEqual(e.reason._tag, "KafkaUnavailable")
    assert.include(e.message, "a listener that wants TLS (K2_KAFKA_TLS) or SASL (K2_KAFKA_SASL_MECHANISM) closes the connections without")
    assert.notInclude(fromKafkajs("connect", new KafkaJSConnectionClosedError("Closed connection", {}), undefined, security).message, "if it goes on")
  })

  // A broker killed under produce: its connections closed, the next ones refused. A listener that
  // wants TLS or SASL takes connections and closes them; one refused has no listener at all.
  it("a connection closed with a connection refused beside it (a broker killed) is an outage without the TLS/SASL hint", () => {
    const refusedConnect = () => Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:19592"), { code: "ECONNREFUSED" })
    const plt = fromPlatformatic(
      "send",
      new MultipleErrors("Producing messages failed.", [
        new NetworkError("Connection closed"),
        new NetworkError("Connection to 127.0.0.1:19592 failed.", { cause: refusedConnect() })
      ])
    )
    assert.strictEqual(plt.reason._tag, "KafkaUnavailable")
    assert.strictEqual(
      plt.message,
      "kafka unavailable during send: PLT_KFK_MULTIPLE: Producing messages failed. (PLT_KFK_NETWORK: Connection closed; " +
        "PLT_KFK_NETWORK: Connection to 127.0.0.1:19592 failed.; ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:19592)"
    )
    // Closed alone, as a listener wanting SASL closes a client without: the hint stays.
    assert.include(fromPlatformatic("send", new MultipleErrors("Producing messages failed.", [new NetworkError("Connection closed")])).message,
      "(if it goes on: a listener that wants TLS (K2_KAFKA_TLS) or SASL (K2_KAFKA_SASL_MECHANISM) closes the connections without)")
  })

  it("a TLS handshake cut short (a PLAINTEXT listener) is an outage with either client, with a hint (platformatic rejected it)", () => {
    const reset = () => Object.assign(new Error("Client network socket disconnected before secure TLS connection was established"), { code: "ECONNRESET" })
    const plt = fromPlatformatic(
      "listTopics",
      new NetworkError("Connection to 127.0.0.1:9192 failed.", { cause: new UserError("TLS handshake failed. Please verify the broker supports TLS.", { cause: reset() }) }),
      undefined,
      { tls: {} }
    )
    const kj = fromKafkajs("connect", new KafkaJSConnectionError(`Connection error: ${reset().message}`, { code: "ECONNRESET" } as never), undefined, { tls: {} })
    for (const e of [kj, plt]) {
      assert.strictEqual(e.reason._tag, "KafkaUnavailable")
      assert.include(e.message, "K2_KAFKA_TLS is on: a PLAINTEXT listener cuts the TLS handshake short")
    }
  })
})

describe("the clients' options", () => {
  it("kafkajs: ssl with the CA, sasl with the mechanism as kafkajs names it", () => {
    const o = kafkajsSecurity(security)
    assert.deepStrictEqual(o.ssl, { ca: ["-----BEGIN CERTIFICATE-----\n"] })
    assert.deepStrictEqual(o.sasl, { mechanism: "scram-sha-512", username: "alice", password: "s3cret-pw" } as never)
    assert.deepStrictEqual(kafkajsSecurity(undefined), {})
  })

  it("platformatic: tls, and the password given by a function (not in the options it may print)", () => {
    const o = platformaticSecurity(security)
    assert.deepStrictEqual(o.tls, { ca: ["-----BEGIN CERTIFICATE-----\n"] })
    assert.strictEqual(o.sasl?.mechanism, "SCRAM-SHA-512")
    assert.strictEqual(o.sasl?.password(), "s3cret-pw")
    assert.notInclude(JSON.stringify(o), "s3cret-pw")
    assert.deepStrictEqual(platformaticSecurity(undefined), {})
  })

  it("platformatic sends each broker's host name (SNI) over TLS, as kafkajs does: not when the brokers are addresses", () => {
    assert.isTrue(platformaticSecurity(security, ["b-1.kafka.example.com:9096", "b-2.kafka.example.com:9096"]).tlsServerName)
    assert.isUndefined(platformaticSecurity(security, ["127.0.0.1:9094"]).tlsServerName)
    assert.isUndefined(platformaticSecurity(security, ["kafka:9094", "[::1]:9094"]).tlsServerName)
    assert.isUndefined(platformaticSecurity({ sasl: security.sasl! }, ["kafka:9094"]).tlsServerName)
  })

  it("the settings never show the password, printed or serialised", () => {
    assert.notInclude(JSON.stringify(security), "s3cret-pw")
    assert.notInclude(String(security.sasl?.password), "s3cret-pw")
  })
})

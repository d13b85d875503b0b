/**
 * What the layer's clients (admin, producer, consumers) are made with: kafkajs itself, loaded with
 * the layer (kafkajs.ts), their config (brokers, log, retries, TLS and SASL), and their connect.
 */
import * as net from "node:net"
import { Effect } from "effect"
import type { ISocketFactory, KafkaConfig, logLevel as LogLevel } from "kafkajs"
import type { Attempt } from "./classified.ts"
import { closeWithin } from "./closing.ts"
import type { KafkajsOptions } from "./kafkajs.ts"
import { hintFor, isTlsRecord, kafkajsSecurity, TLS_REQUIRED } from "./security.ts"

/** The library's module, as the layer loaded it. */
export type Kafkajs = typeof import("kafkajs")

/** As platformatic's default: a grown topic is rebalanced onto within seconds. */
export const METADATA_MAX_AGE_MS = 5_000

/**
 * kafkajs' log: errors to `clientError`, entries up to `shown` printed as kafkajs prints them but
 * all to stderr: kafkajs' own logger writes info and debug with console.info and console.log, to
 * stdout, into a replay's NDJSON and the other programs' results.
 * The retrier's error repeats the connection's in its own words ("Failed to connect to seed
 * broker, trying another broker from the list: Connection error: connect ECONNREFUSED ..."):
 * the connection's says it.
 */
const logTo = (levels: Kafkajs["logLevel"], clientError: (message: string) => void, shown: LogLevel): NonNullable<KafkaConfig["logCreator"]> => () => {
  let previous = ""
  return ({ label, level, log, namespace }) => {
    if (level <= shown && level !== levels.NOTHING) {
      process.stderr.write(`${JSON.stringify({ level: label, ...log, message: `${namespace ? `[${namespace}] ` : ""}${log.message}` })}\n`)
    }
    if (level !== levels.ERROR) return
    const message = String(log.message)
    if (previous === "" || !message.endsWith(previous)) {
      const broker = (log as { readonly broker?: unknown }).broker
      clientError(typeof broker === "string" && !message.includes(broker) ? `${message} (${broker})` : message)
    }
    previous = message
  }
}

/**
 * PLAINTEXT connections that watch their first bytes back: a TLS listener answers with a TLS alert,
 * which kafkajs would read as the length of a response and wait for, then retry the closed
 * connection as an outage for its whole connect (seconds). The socket is ended with platformatic's
 * words (TLS_REQUIRED), and `wantsTls` fails at once, for the connect to end with it.
 */
const tlsRecordWatch = () => {
  let seen: () => void = () => {}
  const wantsTls = new Promise<never>((_, reject) => {
    seen = () => reject(new Error(TLS_REQUIRED))
  })
  // Only raced while connecting: unheard of otherwise.
  wantsTls.catch(() => undefined)
  // kafkajs' own factory for a PLAINTEXT connection, watching.
  const socketFactory: ISocketFactory = ({ host, port, onConnect }) => {
    const socket = net.connect({ host, port }, onConnect)
    socket.setKeepAlive(true, 60_000)
    socket.once("data", (chunk: Buffer) => {
      if (!isTlsRecord(chunk)) return
      seen()
      socket.destroy(new Error(TLS_REQUIRED))
    })
    return socket
  }
  return { socketFactory, wantsTls }
}

/**
 * The clients' config, and under PLAINTEXT the watch of their connections (`tlsRecordWatch`):
 * its `wantsTls` is raced by each connect.
 */
export const clientConfig = (logLevel: Kafkajs["logLevel"], options: KafkajsOptions) => {
  // Failures surface as typed errors; kafkajs logs retriable conditions (rebalancing, coordinator loading) as errors.
  const shown = logLevel[(process.env["KAFKAJS_LOG_LEVEL"] ?? "").toUpperCase() as keyof typeof logLevel] ?? options.logLevel ?? logLevel.NOTHING
  const watch = options.security?.tls === undefined ? tlsRecordWatch() : undefined
  const config: KafkaConfig = {
    clientId: options.clientId ?? "k2",
    brokers: [...options.brokers],
    ...(options.clientError === undefined
      ? { logLevel: shown, logCreator: logTo(logLevel, () => {}, shown) }
      // Errors logged, to say what a connect still retrying has met when it is cut short, with
      // what a closed connection may mean of the connection's security.
      : {
        logLevel: Math.max(shown, logLevel.ERROR) as LogLevel,
        logCreator: logTo(logLevel, ((said) => (m: string) => said(`${m}${hintFor(m, options.security)}`))(options.clientError), shown)
      }),
    retry: { retries: 8, initialRetryTime: 100, maxRetryTime: 5_000 },
    ...kafkajsSecurity(options.security),
    ...(watch === undefined ? {} : { socketFactory: watch.socketFactory })
  }
  return { config, wantsTls: watch?.wantsTls }
}

/**
 * `client` connected until the scope closes. The connect can be interrupted (the first-contact
 * wait ran out, ADR-38), unlike an acquire: kafkajs goes on retrying it, and a disconnect meanwhile
 * waits for its pending request, so the client is disconnected once that connect ends. It ends
 * as soon as `wantsTls` fails (a TLS listener met in PLAINTEXT), kafkajs still retrying it.
 */
export const connectScoped = (
  name: string,
  client: { readonly connect: () => Promise<void>; readonly disconnect: () => Promise<void> },
  attempt: Attempt,
  wantsTls?: Promise<never>
) =>
  Effect.uninterruptibleMask((restore) => {
    const disconnect = () => client.disconnect().catch(() => undefined)
    let connecting: Promise<void> | undefined
    return restore(attempt("connect", () => {
      connecting = client.connect()
      return wantsTls === undefined ? connecting : Promise.race([connecting, wantsTls])
    })).pipe(
      Effect.onError(() => Effect.sync(() => void connecting?.then(disconnect, disconnect))),
      // Connected: the finalizer is in place before any interruption.
      Effect.andThen(Effect.addFinalizer(() => closeWithin(name, disconnect)))
    )
  })

/**
 * KafkaSource, KafkaSink and KafkaAdmin on kafkajs 2.2.
 *
 * - Producer: idempotent, acks=all, one in-flight request per broker (kafkajs' rule for
 *   idempotence). Batches go uncompressed: the topic's compression.type is applied by the broker.
 * - Decompression: kafkajs decodes gzip only; K2 registers snappy, lz4 and zstd decoders
 *   (compression.ts, ADR-72), so batches compressed upstream or by the topic's compression.type read
 *   as any other; one that cannot be decoded fails the consumer at once, naming codec and partition.
 * - CRCs: kafkajs ignores them; K2 checks each complete fetched batch's CRC-32C before kafkajs
 *   decodes it (kafkajsFetch.ts, ADR-90), as the platformatic layer does.
 * - Consumer: classic group protocol (round robin by subscription, assignor.ts), autoCommit off.
 *   On GROUP_JOIN the gained partitions are paused synchronously (before kafkajs fetches), onAssign runs, then they are seeked and
 *   resumed; kept partitions are seeked back to where delivery stopped (kafkajs resets positions
 *   to the committed offsets on every rejoin).
 */
import * as net from "node:net"
import { Context, Effect, Layer, Schedule } from "effect"
import type { Consumer as KConsumer, ICustomPartitioner, IHeaders, ISocketFactory, KafkaConfig, logLevel as LogLevel } from "kafkajs"
import { setEntry, type TopicSpec, topicConfigEntries } from "../../domain/wire.ts"
import { KafkaAdmin, KafkaSink, type ProducerRecord } from "../../services/KafkaSink.ts"
import {
  type KafkaError,
  kafkaError,
  type KafkaHeaderBytes,
  type KafkaHeaders,
  type KafkaRecord,
  KafkaRejected,
  KafkaSource,
  KafkaUnavailable,
  RebalanceInProgress,
  type SubscribeOptions,
  type TopicPartition,
  type TpKey,
  tpKey,
  tpKeyOf,
  UnknownTopic
} from "../../services/KafkaSource.ts"
import { kafkajsAssigner } from "./assignor.ts"
import { foldKafkajsHeadersLinearly } from "./kafkajsHeaders.ts"
import { onKafkajsReset, tellKafkajsResets } from "./kafkajsResets.ts"
import { registerKafkajsCodecs } from "./compression.ts"
import { closeWithin } from "./closing.ts"
import { makeConsumerCore } from "./consumerCore.ts"
import { ensureTopicsWith, untilLed } from "./ensureTopics.ts"
import { authorizationFailure, configsUnlessRefused, type Target } from "./authorization.ts"
import { type Attempt, classifiedBy, sharedFailure } from "./classified.ts"
import { partitionForKey } from "./partitioner.ts"
import { closedConnectionHint, hintFor, isTlsRecord, type KafkaSecurity, kafkajsSecurity, TLS_REQUIRED } from "./security.ts"
import { sentHeaderBytes, toBuffer, withBytesBeside } from "./textBytes.ts"
import { inBatches } from "./batchBytes.ts"
import { limitOf, MessageLimits, topicLimits } from "./messageLimits.ts"
import { tracedSend } from "./tracing.ts"

/** Group heartbeat interval (ms), also while a batch waits for buffer room. */
const HEARTBEAT_MS = 3_000
/** As platformatic's default: a grown topic is rebalanced onto within seconds. */
const METADATA_MAX_AGE_MS = 5_000

export interface KafkajsOptions {
  readonly brokers: ReadonlyArray<string>
  readonly clientId?: string
  /** kafkajs log level; default NOTHING (errors reach callers as KafkaError). */
  readonly logLevel?: LogLevel
  /**
   * Each error kafkajs logs, shown or not: what a request it retries by itself has met so far
   * (its connect() retries a refused connect for ~10 s before it fails, ADR-38).
   */
  readonly clientError?: (message: string) => void
  /** TLS and SASL (ADR-54); none: PLAINTEXT. */
  readonly security?: KafkaSecurity
}

type Kafkajs = typeof import("kafkajs")

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
 * kafkajs' default (Java-compatible) partitioner, except that a record naming a partition the
 * topic lacks fails the send: kafkajs would drop it without a word. The first time, the metadata
 * may be stale (partitions just added): kafkajs refreshes it and tries again; the second time the
 * send is rejected. Nothing of the send is written either way. A keyed record is placed by K2's
 * murmur2 (the same partition): kafkajs' computes on BigInts that grow with the key, quadratic, on
 * the event loop (a 64 KB key: 1.5 s; a dead letter keyed by a 1 MB key: minutes, its partition stalled).
 */
export const checkedPartitioner = (kafkajs: Kafkajs): ICustomPartitioner => () => {
  // Its type declares no constructor argument, but it needs its message.
  const KafkaJSMetadataNotLoaded = kafkajs.KafkaJSMetadataNotLoaded as unknown as new(message: string) => Error
  const partitioner = kafkajs.Partitioners.DefaultPartitioner()
  const retried = new WeakSet<object>()
  return (args) => {
    const p = args.message.partition
    if (p !== undefined && p !== null && !(Number.isInteger(p) && p >= 0 && p < args.partitionMetadata.length)) {
      const detail = `${args.topic} has no partition ${p}`
      if (retried.has(args.message)) throw new kafkajs.KafkaJSNonRetriableError(detail)
      retried.add(args.message)
      throw new KafkaJSMetadataNotLoaded(detail)
    }
    const key = args.message.key
    if ((p === undefined || p === null) && key !== null && key !== undefined) return partitionForKey(key, args.partitionMetadata.length)
    return partitioner(args)
  }
}

const REBALANCE_TYPES = new Set(["REBALANCE_IN_PROGRESS", "ILLEGAL_GENERATION", "UNKNOWN_MEMBER_ID", "FENCED_INSTANCE_ID"])
const UNAVAILABLE_NAMES = new Set([
  "KafkaJSConnectionError",
  "KafkaJSRequestTimeoutError",
  "KafkaJSNumberOfRetriesExceeded",
  "KafkaJSBrokerNotFound",
  "KafkaJSNoBrokerAvailableError",
  "KafkaJSConnectionClosedError",
  "KafkaJSLockTimeout",
  "KafkaJSMetadataNotLoaded",
  "KafkaJSTopicMetadataNotLoaded"
])

/**
 * Classify a kafkajs error into the K2 reasons; `security`: the connection's, named by its failures;
 * `target`: the resources the operation named, named by an authorization failure (`topic` its first).
 */
export const fromKafkajs = (operation: string, cause: unknown, topic?: string, security?: KafkaSecurity, target?: Target): KafkaError => {
  const shared = sharedFailure(operation, cause, topic, security, target)
  if (shared !== undefined) return shared
  type KError = { name?: string; type?: string; retriable?: boolean; message?: string; cause?: unknown }
  const e = cause as KError | undefined
  // kafkajs 2.2 keeps the broker's error of a retried request (NumberOfRetriesExceeded,
  // NonRetriableError) in `cause`: that error says what went wrong.
  let inner = e
  for (let depth = 0; depth < 8 && inner?.type === undefined && typeof inner?.cause === "object" && inner.cause !== null; depth++) {
    inner = inner.cause as KError
  }
  const type = inner?.type
  const detail = `${e?.name ?? "Error"}: ${e?.message ?? String(cause)}${inner !== e ? ` (${inner?.message})` : ""}${closedConnectionHint(cause, security)}`
  if (type !== undefined && REBALANCE_TYPES.has(type)) return kafkaError(new RebalanceInProgress({ operation, detail }))
  if (e?.name === "KafkaJSGroupCoordinatorNotFound") {
    // kafkajs drops the broker's refusal of FindCoordinator and says only this; it says the same when
    // every broker's FindCoordinator failed otherwise (timed out, coordinator not available past its retries).
    return kafkaError(new KafkaRejected({
      operation,
      detail: `${detail} (kafkajs does not say why: most often the principal may not READ the group, check its ACLs; ` +
        "else no broker could name the group's coordinator in time)"
    }))
  }
  // Retried to the end, it may be a broker still loading its partitions after a restart (the
  // error is retriable): an outage, unless the topic is known to be absent (`absentOr`).
  if ((type === "UNKNOWN_TOPIC_OR_PARTITION" || type === "UNKNOWN_TOPIC_ID") && e?.name !== "KafkaJSNumberOfRetriesExceeded") {
    return kafkaError(new UnknownTopic({ topic: topic ?? "?" }))
  }
  if (e?.retriable === true || inner?.retriable === true || UNAVAILABLE_NAMES.has(e?.name ?? "") || UNAVAILABLE_NAMES.has(inner?.name ?? "")) {
    return kafkaError(new KafkaUnavailable({ operation, detail }))
  }
  return kafkaError(new KafkaRejected({ operation, detail }))
}

const attemptWith = classifiedBy(fromKafkajs)

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
 * `client` connected until the scope closes. The connect can be interrupted (the first-contact
 * wait ran out, ADR-38), unlike an acquire: kafkajs goes on retrying it, and a disconnect meanwhile
 * waits for its pending request, so the client is disconnected once that connect ends. It ends
 * as soon as `wantsTls` fails (a TLS listener met in PLAINTEXT), kafkajs still retrying it.
 */
const connectScoped = (
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

/** Headers to send: the text, with these names' bytes in place of theirs. */
const withRawHeaders = (headers: KafkaHeaders, bytes: KafkaHeaderBytes): Record<string, string | Buffer> => {
  const out: Record<string, string | Buffer> = {}
  for (const k in headers) {
    const raw = sentHeaderBytes(bytes, k)
    setEntry(out, k, raw !== undefined ? toBuffer(raw) : headers[k]!)
  }
  return out
}

/** The value decodeHeaders kept for `name` (the last of that name), as bytes. */
export const rawHeader = (h: IHeaders | undefined, name: string): Uint8Array | undefined => {
  if (h === undefined || !Object.hasOwn(h, name)) return undefined
  const given = h[name]
  const v = Array.isArray(given) ? given[given.length - 1] : given
  return v === undefined || v === null ? undefined : typeof v === "string" ? Buffer.from(v, "utf8") : v
}

export const decodeHeaders = (h: IHeaders | undefined): Record<string, string> => {
  const out: Record<string, string> = {}
  if (h === undefined) return out
  for (const k in h) {
    // kafkajs gives a repeated name all its values (the last wins, as in the other layers), and
    // a name it finds on Object.prototype ("constructor") as [the inherited member, its value].
    const given = h[k]
    const v = Array.isArray(given) ? given[given.length - 1] : given
    if (v === undefined) continue
    // A header without value (length -1) is null, read as "" as the other layers do.
    setEntry(out, k, v === null ? "" : String(v))
  }
  return out
}

const toTps = (assignment: Record<string, ReadonlyArray<number>>): Array<TopicPartition> =>
  Object.entries(assignment).flatMap(([topic, partitions]) => partitions.map((partition) => ({ topic, partition })))

interface KMessage {
  key: string | Buffer | null
  value: Buffer | null
  headers?: Record<string, string | Buffer>
  partition?: number
  timestamp?: string
}

const toTopicMessages = (records: ReadonlyArray<ProducerRecord>) => {
  const byTopic = new Map<string, Array<KMessage>>()
  for (const r of records) {
    let list = byTopic.get(r.topic)
    if (list === undefined) byTopic.set(r.topic, (list = []))
    // Field by field: object spreads per record showed in produce profiles.
    const m: KMessage = {
      key: r.keyBytes === undefined ? r.key : toBuffer(r.keyBytes),
      value: r.value === null ? null : toBuffer(r.value)
    }
    if (r.headers !== undefined) m.headers = r.headerBytes === undefined ? r.headers as Record<string, string> : withRawHeaders(r.headers, r.headerBytes)
    if (r.partition !== undefined) m.partition = r.partition
    if (r.timestamp !== undefined) m.timestamp = String(r.timestamp)
    list.push(m)
  }
  return [...byTopic].map(([topic, messages]) => ({ topic, messages }))
}

/** The levels kafkajs' log takes from KAFKAJS_LOG_LEVEL (any case), as it and this layer read them; unset, the layer's `logLevel`. */
export const KAFKAJS_LOG_LEVELS = ["nothing", "error", "warn", "info", "debug"] as const

export const layerKafkajs = (options: KafkajsOptions) =>
  Layer.effectContext(Effect.gen(function*() {
    // Loaded with the layer, not the module, as @platformatic/kafka is. kafkajs is CommonJS:
    // Node's ESM loader only sees its default export.
    const kafkajs = (yield* Effect.promise(() => import("kafkajs"))).default
    // Before any fetch is decoded: kafkajs folds a record's headers in quadratic time (kafkajsHeaders.ts).
    if (!foldKafkajsHeadersLinearly()) yield* Effect.logWarning("kafkajs' header decoder is not the one K2 patches (kafkajs 2.2.4): a record of thousands of headers will hold the event loop")
    // Before any consumer fetches: kafkajs resets a position out of range without a word (kafkajsResets.ts).
    if (!tellKafkajsResets()) yield* Effect.logWarning("kafkajs' recovery from a fetch out of range is not the one K2 extends (kafkajs 2.2.4): a partition whose every record past the position was deleted will lag until a record comes, and its loss goes unreported until then")
    // Before any fetch is decoded: kafkajs itself reads gzip only, and checks no CRC (compression.ts, kafkajsFetch.ts).
    if (!registerKafkajsCodecs()) {
      yield* Effect.logWarning(
        "kafkajs' codec table or Fetch decoders are not the ones K2 extends (kafkajs 2.2.4): records compressed with snappy, lz4 or zstd " +
          "will fail the consumer, and fetched batches' CRCs may go unchecked"
      )
    }
    const { ConfigResourceTypes, ConfigSource, Kafka, logLevel } = kafkajs
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
    const kafka = new Kafka(config)
    const classify = (operation: string, cause: unknown, topic?: string, target?: Target) => fromKafkajs(operation, cause, topic, options.security, target)
    const attempt = attemptWith(options.security)

    const admin = kafka.admin()
    yield* connectScoped("admin", admin, attempt, watch?.wantsTls)
    const producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: checkedPartitioner(kafkajs),
      // As the consumer's: at kafkajs' default (5 minutes) a grown topic's new partitions got no records that long.
      metadataMaxAge: METADATA_MAX_AGE_MS
    })
    yield* connectScoped("producer", producer, attempt, watch?.wantsTls)

    const committed = async (groupId: string, tps: ReadonlyArray<TopicPartition>) => {
      const topics = [...new Set(tps.map((tp) => tp.topic))]
      const res = await admin.fetchOffsets({ groupId, topics })
      const out = new Map<TpKey, bigint | null>()
      for (const t of res) {
        for (const p of t.partitions) {
          const o = BigInt(p.offset)
          out.set(tpKey(t.topic, p.partition), o < 0n ? null : o)
        }
      }
      return new Map(tps.map((tp) => [tpKey(tp.topic, tp.partition), out.get(tpKey(tp.topic, tp.partition)) ?? null]))
    }

    /**
     * A failure naming topics: UnknownTopic when one of them is absent from the cluster, else as
     * classified. A refusal goes first: Kafka hides what the principal may not DESCRIBE, so the
     * listing lacks the topic it refused (a DLQ then read as deleted, to be made again).
     */
    const absentOr = async (operation: string, topics: ReadonlyArray<string>, e: unknown): Promise<never> => {
      const refused = authorizationFailure(operation, e, options.security, { topics })
      if (refused !== undefined) throw refused
      const existing = await admin.listTopics().catch(() => undefined)
      const missing = existing === undefined ? undefined : topics.find((t) => !existing.includes(t))
      throw missing === undefined ? classify(operation, e, topics[0], { topics }) : kafkaError(new UnknownTopic({ topic: missing }))
    }

    const watermarks = async (topic: string) => {
      const res = await admin.fetchTopicOffsets(topic).catch((e: unknown) => absentOr("watermarks", [topic], e))
      return res
        .map((p) => ({ topic, partition: p.partition, low: BigInt(p.low), high: BigInt(p.high) }))
        .sort((a, b) => a.partition - b.partition)
    }

    const subscribe = <E, R>(opts: SubscribeOptions<E, R>) =>
      Effect.gen(function*() {
        /** A failure of this member: a refusal names its group and topics. */
        const inGroup = (operation: string, cause: unknown, topic?: string) =>
          classify(operation, cause, topic, { topics: opts.topics, group: opts.groupId })
        const consumer: KConsumer = kafka.consumer({
          groupId: opts.groupId,
          sessionTimeout: opts.sessionTimeoutMs ?? 30_000,
          heartbeatInterval: HEARTBEAT_MS,
          allowAutoTopicCreation: false,
          // Its round robin deals the leader's topics to every member: members of one group with
          // different --topics need an assignment by subscription (assignor.ts).
          partitionAssigners: [kafkajsAssigner(kafkajs)],
          // kafkajs rejoins when its metadata shows a subscribed topic grown; at its default age
          // (5 minutes) the partitions added to a topic went unread that long.
          metadataMaxAge: METADATA_MAX_AGE_MS,
          // What a partition actor holds at once.
          maxBytesPerPartition: 256 * 1024,
          // Whatever the partitions: a response is decoded at once, and 64 MB of one (240 partitions
          // with a backlog) ran `npm run ingest` out of its heap (ADR-57).
          maxBytes: 8 * 1024 * 1024,
          maxWaitTimeInMs: 250,
          retry: { retries: 8 }
        })
        const core = yield* makeConsumerCore(opts, {
          seek: (tp, offset) => consumer.seek({ topic: tp.topic, partition: tp.partition, offset: offset.toString() }),
          pause: (tps) => consumer.pause(tps.map((tp) => ({ topic: tp.topic, partitions: [tp.partition] }))),
          resume: (tps) => consumer.resume(tps.map((tp) => ({ topic: tp.topic, partitions: [tp.partition] }))),
          committed: (tps) => committed(opts.groupId, tps),
          watermarks,
          commit: async (offsets) => {
            await consumer.commitOffsets(offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset.toString() })))
          }
        }, inGroup)

        consumer.on(consumer.events.GROUP_JOIN, (event) => {
          // Synchronous part of assign runs here, before kafkajs starts fetching.
          void core.assign(toTps(event.payload.memberAssignment))
        })
        // A fetch that held only transaction markers or aborted records never reaches eachBatch:
        // kafkajs moves past it by itself. When it starts at the position the core wants, it is
        // offered as an empty batch that moves the position past them (an idle partition whose
        // log ends with a marker would otherwise read as lagging for good). When it starts beyond
        // (offsets compacted away), the next batch, fetched from beyond the position, is offered
        // as continuing it (as platformatic's skips do).
        const skips = new Map<TpKey, { from: bigint; to: bigint }>()
        /** The empty batch offered for a partition, which its next batch waits behind (order). */
        const moved = new Map<TpKey, Promise<void>>()
        /**
         * Partitions kafkajs reset while the core's check of them runs: a fetch of only transaction
         * markers at the new position must not pass for one continuing the old (the loss unsaid).
         */
        const resetting = new Set<TpKey>()
        consumer.on(consumer.events.START_BATCH_PROCESS, ({ payload }) => {
          if (payload.batchSize !== 0 || payload.firstOffset === null) return
          const key = tpKey(payload.topic, payload.partition)
          const pos = core.fetchPosition(key)
          if (pos === undefined) return
          const first = BigInt(payload.firstOffset)
          const to = BigInt(payload.lastOffset) + 1n
          // Reset: fetched from beyond the position, judged by the core (deleted or not) as any batch
          // fetched there. Else beyond it: offsets compacted away before the markers, and the next
          // batch continues this one from the position.
          const from = first === pos ? pos : first > pos && resetting.has(key) ? first : undefined
          if (from === undefined) {
            if (first > pos) skips.set(key, { from: pos, to })
            return
          }
          skips.delete(key)
          const offered = core.offer({ topic: payload.topic, partition: payload.partition }, from, [], to, BigInt(payload.highWatermark))
          moved.set(key, offered)
          // Handled both ways: a failed offer (a seek kafkajs refuses) reaches the next batch, which
          // waits behind it in eachBatch, not the process as an unhandled rejection.
          const forget = () => {
            if (moved.get(key) === offered) moved.delete(key)
          }
          offered.then(forget, forget)
        })
        // A fetch out of range (records deleted past the position): kafkajs resets the position by
        // itself and says nothing; told here (kafkajsResets.ts), the core checks the log start once
        // and moves the position there, telling the records lost.
        yield* Effect.acquireRelease(
          Effect.sync(() =>
            onKafkajsReset(opts.groupId, (tp) => {
              const key = tpKeyOf(tp)
              skips.delete(key)
              resetting.add(key)
              void core.outOfRange(tp).finally(() => resetting.delete(key))
            })
          ),
          (remove) => Effect.sync(remove)
        )
        consumer.on(consumer.events.CRASH, (event) => {
          const e = event.payload.error
          if (!event.payload.restart) core.fail(inGroup("consume", e))
        })

        // Before connecting: a subscription that fails (an unknown topic) still closes its connections.
        yield* Effect.addFinalizer(() => closeWithin("consumer", () => consumer.disconnect()))
        yield* Effect.acquireRelease(
          attemptWith(options.security, opts.groupId)("subscribe", async () => {
            await consumer.connect()
            await consumer.subscribe({ topics: [...opts.topics], fromBeginning: (opts.startFrom ?? "earliest") === "earliest" })
              .catch((e: unknown) => absentOr("subscribe", opts.topics, e))
            await consumer.run({
              autoCommit: false,
              eachBatchAutoResolve: true,
              partitionsConsumedConcurrently: 1,
              eachBatch: async ({ batch, heartbeat }) => {
                const n = batch.messages.length
                const records: Array<KafkaRecord> = new Array(n)
                for (let i = 0; i < n; i++) {
                  const m = batch.messages[i]!
                  records[i] = withBytesBeside({
                    offset: BigInt(m.offset),
                    key: m.key === null || m.key === undefined ? null : m.key.toString("utf8"),
                    value: m.value,
                    headers: decodeHeaders(m.headers),
                    timestamp: Number(m.timestamp)
                  }, m.key, m.headers, rawHeader)
                }
                const key = tpKey(batch.topic, batch.partition)
                const fetched = BigInt((batch as unknown as { fetchedOffset: string }).fetchedOffset)
                const skip = skips.get(key)
                skips.delete(key)
                const from = skip !== undefined && skip.to === fetched && core.fetchPosition(key) === skip.from ? skip.from : fetched
                const before = moved.get(key)
                const offer = () => core.offer(
                  { topic: batch.topic, partition: batch.partition },
                  from,
                  records,
                  BigInt(batch.lastOffset()) + 1n,
                  // No topic id: kafkajs' metadata (v6) has none.
                  BigInt(batch.highWatermark)
                )
                const offered = (before === undefined ? offer() : before.then(offer)).then(() => true)
                // kafkajs heartbeats only between batches: while this one waits for buffer room
                // (backpressure, as long as a slow flush takes) the member must stay in the group.
                // heartbeat() sends only once HEARTBEAT_MS have passed since the last answer, so it
                // is asked more often than that (asking every HEARTBEAT_MS could skip every other
                // turn and leave a gap as long as a short session timeout).
                // One wake-up a turn, not a race against `offered`: each race would leave a reaction
                // on it until it settles, one a second for as long as a stall lasts.
                let settled = false
                let wake = () => {}
                const done = offered.finally(() => {
                  settled = true
                  wake()
                })
                while (!settled) {
                  await new Promise<void>((resolve) => {
                    const timer = setTimeout(resolve, HEARTBEAT_MS / 3)
                    timer.unref()
                    wake = () => {
                      clearTimeout(timer)
                      resolve()
                    }
                  })
                  if (!settled) await heartbeat().catch(() => undefined)
                }
                await done
              }
            })
          }, opts.topics),
          // Before the disconnect (the finalizer above), as the member leaves.
          () => Effect.promise(() => core.revokeAll())
        )
        return core.consumer
      })

    const source = KafkaSource.of({ client: "kafkajs", subscribe })

    type Described = ReadonlyArray<{ readonly resourceName: string; readonly configEntries: ReadonlyArray<{ readonly configName: string; readonly configValue: string | null }> }>
    const limitsIn = (resources: Described) =>
      topicLimits(resources.map((r) => [r.resourceName, r.configEntries.find((e) => e.configName === "max.message.bytes")?.configValue] as const))
    const limits = new MessageLimits({
      topics: (names) =>
        attempt("describeTopics", () =>
          admin.describeConfigs({
            includeSynonyms: false,
            resources: names.map((name) => ({ type: ConfigResourceTypes.TOPIC, name, configNames: ["max.message.bytes"] }))
          }), [...names]).pipe(Effect.map((configs) => limitsIn(configs.resources))),
      broker: () =>
        attempt("describeTopics", async () => {
          const { brokers } = await admin.describeCluster()
          if (brokers.length === 0) return undefined
          const configs = await admin.describeConfigs({
            includeSynonyms: false,
            resources: [{ type: ConfigResourceTypes.BROKER, name: String(brokers[0]!.nodeId), configNames: ["message.max.bytes"] }]
          })
          return limitOf(configs.resources[0]?.configEntries.find((e) => e.configName === "message.max.bytes")?.configValue)
        })
    })

    const sink = KafkaSink.of({
      client: "kafkajs",
      // kafkajs sends a partition's records of a sendBatch as one batch: requests under the limit (batchBytes.ts).
      send: tracedSend(inBatches(Effect.fnUntraced(function*(records: ReadonlyArray<ProducerRecord>) {
        if (records.length === 0) return []
        // A topic deleted since (a DLQ an operator removed) fails after kafkajs' retries as an
        // outage, to be retried for minutes: told apart, it is UnknownTopic, naming the topic.
        const res = yield* attempt("send", () =>
          producer.sendBatch({ topicMessages: toTopicMessages(records), acks: -1 })
            .catch((e: unknown) => absentOr("send", [...new Set(records.map((r) => r.topic))], e)), records[0]!.topic)
        return res.map((r) => ({ topic: r.topicName, partition: r.partition, baseOffset: r.baseOffset !== undefined ? BigInt(r.baseOffset) : null }))
      }), limits)),
      // sendBatch resolves only once acknowledged: nothing is buffered.
      flush: () => Effect.void
    })

    const describeTopics = Effect.fn("KafkaAdmin.describeTopics")(function*(names: ReadonlyArray<string>) {
      if (names.length === 0) return []
      const meta = yield* attempt("describeTopics", () => admin.fetchTopicMetadata({ topics: [...names] }), names[0])
      const configs = yield* attempt("describeTopics", () =>
        admin.describeConfigs({
          includeSynonyms: false,
          resources: names.map((name) => ({ type: ConfigResourceTypes.TOPIC, name }))
        }), names).pipe(configsUnlessRefused)
      // The sinks cut their sends under these limits, read here at ensureTopics (ADR-78).
      if (configs !== undefined) limits.learn(limitsIn(configs.resources))
      return names.map((name) => {
        const t = meta.topics.find((x) => x.name === name)
        if (configs === undefined) return { name, partitions: t?.partitions.length ?? 0 }
        const c = configs.resources.find((r) => r.resourceName === name)
        const config: Record<string, string> = {}
        // The topic's own overrides only (as platformatic): a broker-wide setting is not the topic's,
        // and alter would otherwise pin it on the topic.
        for (const e of c?.configEntries ?? []) {
          if (e.configSource === ConfigSource.TOPIC_CONFIG && e.configValue !== null) config[e.configName] = e.configValue
        }
        return { name, partitions: t?.partitions.length ?? 0, config }
      })
    })

    const listTopics = () => attempt("listTopics", () => admin.listTopics())

    const partitionsLed = (topics: ReadonlyArray<TopicSpec>) =>
      untilLed("createPartitions", topics.map((s) => s.name), async () => {
        const meta = await admin.fetchTopicMetadata({ topics: topics.map((s) => s.name) })
        return topics.every((s) => {
          const t = meta.topics.find((x) => x.name === s.name)
          return t !== undefined && t.partitions.length >= s.partitions && t.partitions.every((p) => p.leader >= 0)
        })
      })
    /**
     * Retries while a topic reads as unknown for a moment: a broker that has just started or
     * restarted is still loading its partitions, a topic just created has no leaders yet.
     */
    const whileTopicsSettle = <A>(effect: Effect.Effect<A, KafkaError>) =>
      effect.pipe(Effect.retry({
        schedule: Schedule.exponential("200 millis").pipe(Schedule.jittered, Schedule.upTo({ times: 6 })),
        while: (e) => e.retryable || e.reason._tag === "UnknownTopic"
      }))
    const configEntriesOf = (s: TopicSpec) => topicConfigEntries(s).map(([name, value]) => ({ name, value }))

    const adminService = KafkaAdmin.of({
      ensureTopics: ensureTopicsWith({
        list: listTopics,
        create: (missing) =>
          attempt("createTopics", () =>
            admin.createTopics({
              waitForLeaders: true,
              topics: missing.map((s) => ({
                topic: s.name,
                numPartitions: s.partitions,
                configEntries: configEntriesOf(s)
              }))
            }), missing[0]!.name).pipe(
              // Creating again is harmless.
              whileTopicsSettle,
              // false: some already existed (kafkajs does not say which; also after a retry whose
              // first attempt created them). ensureTopics then checks them all as existing, which
              // changes nothing on the ones just created as specified.
              Effect.map((created) => created ? [] : missing.map((s) => s.name))
            ),
        // Topics created a moment ago (a retried create reports them as existing) may not have
        // their metadata yet.
        describe: (names) => whileTopicsSettle(describeTopics(names)),
        grow: (topics) =>
          attempt("createPartitions", async () => {
            await admin.createPartitions({ topicPartitions: topics.map((s) => ({ topic: s.name, count: s.partitions })) })
            await partitionsLed(topics)
          }, topics[0]!.name),
        alter: (topics) =>
          // kafkajs has only AlterConfigs, which replaces ALL of a topic's overrides with the ones
          // given: the topic's current overrides go along, so only the spec's keys change.
          describeTopics(topics.map((s) => s.name)).pipe(
            Effect.flatMap((described) =>
              attempt("alterConfigs", () =>
                admin.alterConfigs({
                  validateOnly: false,
                  resources: topics.map((s) => {
                    const current = described.find((d) => d.name === s.name)?.config ?? {}
                    const merged = { ...current, ...Object.fromEntries(topicConfigEntries(s)) }
                    return {
                      type: ConfigResourceTypes.TOPIC,
                      name: s.name,
                      configEntries: Object.entries(merged).map(([name, value]) => ({ name, value }))
                    }
                  })
                }), topics[0]!.name)
            ),
            Effect.asVoid
          )
      }),
      describeTopics,
      listTopics,
      deleteTopics: (names) => attempt("deleteTopics", () => admin.deleteTopics({ topics: [...names] }), names[0])
    })

    return Context.make(KafkaSource, source).pipe(
      Context.add(KafkaSink, sink),
      Context.add(KafkaAdmin, adminService)
    )
  }))

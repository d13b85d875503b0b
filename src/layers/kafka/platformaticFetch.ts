/**
 * @platformatic/kafka's Fetch responses with each partition's record batches left as bytes, for K2
 * to read itself (recordBatches.ts): platformatic's own parse made a Buffer per key, value, header
 * name and value and an object per record and header, the larger part of ingest's garbage.
 *
 * platformatic exposes no record parser, but its `consumer.fetch` takes a `connectionPool`: K2
 * passes one that hands out the consumer's own connections, each behind a wrapper whose `send`
 * swaps the response parser of Fetch v12-v17 (the versions of brokers from 2.7; platformatic's
 * oldest supported broker, 3.5, answers v15 and later) for `parseFetchResponse`, platformatic's own
 * parse of those versions but for the records. Other requests go through unchanged. Each
 * partition's bytes are one Buffer (a view of the socket's chunk, or a copy when they span
 * several), under `K2_RECORDS`; `records` is null, so platformatic's own read-committed filter
 * passes them by (K2 drops aborted transactions itself).
 *
 * Another Fetch version is not sent: it fails the fetch with `KafkaFetchVersionUnsupported`
 * (ADR-88). Below v12 (a broker before Kafka 2.7, which also lacks the topic ids K2 needs) the
 * records would come from platformatic's parse, a second reader of batches; above v17 (a newer
 * platformatic) from a layout this parser does not know.
 */
import { fetchedFrom, KafkaCompressionUnsupported } from "./compression.ts"

/** The property of a fetched partition holding its records' bytes. */
export const K2_RECORDS = "k2Records"

/** What of platformatic's Reader the parser uses. */
export interface PReader {
  position: number
  readonly remaining: number
  readonly buffer: { slice(start: number, end: number): Buffer }
  readInt16(): number
  readInt32(): number
  readInt64(): bigint
  readUUID(): string
  readString(compact?: boolean): string
  readNullableString(compact?: boolean): string | null
  readUnsignedVarInt(): number
  skip(n: number): unknown
  readArray<T>(f: (r: PReader, i: number) => T, compact?: boolean, discardTrailingTaggedFields?: boolean): Array<T>
  readNullableArray<T>(f: (r: PReader, i: number) => T, compact?: boolean, discardTrailingTaggedFields?: boolean): Array<T> | null
}

type ReadKnownTaggedFields = (reader: PReader, handlers: Record<number, (r: PReader) => void>) => void
type PResponseError = new(apiKey: number, apiVersion: number, errors: Record<string, unknown>, response: unknown) => Error

const FETCH = 1
const FIRST_VERSION = 12
const LAST_VERSION = 17

/**
 * The Fetch version platformatic chose for a broker (the newest both know) is not one K2 reads.
 * Not retriable (`canRetry` for platformatic's retries, `retriable` for K2's): the broker's
 * versions do not change between attempts.
 */
export class KafkaFetchVersionUnsupported extends Error {
  override readonly name = "KafkaFetchVersionUnsupported"
  readonly canRetry = false
  readonly retriable = false
  readonly version: number
  constructor(version: number, broker: string) {
    super(
      version < FIRST_VERSION
        ? `the broker ${broker} answers Fetch v${version} at most (Kafka before 2.7): the platformatic layer reads Fetch ` +
          `v${FIRST_VERSION}-v${LAST_VERSION} responses only. Fix: upgrade the broker; K2 supports Kafka 3.5 and newer ` +
          "(docs/kafka.md, \"Broker versions\")"
        : `@platformatic/kafka chose Fetch v${version} for the broker ${broker}, newer than the v${FIRST_VERSION}-v${LAST_VERSION} ` +
          "K2 reads (platformaticFetch.ts). Fix: install the @platformatic/kafka version of K2's package-lock.json, " +
          `or teach makeFetchParser Fetch v${version}`
    )
    this.version = version
  }
}

/** platformatic's Fetch v12-v17 parse (fetch-v12.js ... fetch-v17.js), the records kept as bytes. */
export const makeFetchParser = (readKnownTaggedFields: ReadKnownTaggedFields, ResponseError: PResponseError) =>
(_correlationId: number, apiKey: number, apiVersion: number, reader: PReader) => {
  const errors: Array<[string, [number, null]]> = []
  const throttleTimeMs = reader.readInt32()
  const errorCode = reader.readInt16()
  if (errorCode !== 0) errors.push([apiVersion >= 15 ? "" : "/", [errorCode, null]])
  const response = {
    throttleTimeMs,
    errorCode,
    sessionId: reader.readInt32(),
    nodeEndpoints: [] as Array<unknown>,
    responses: reader.readArray((r, i) => ({
      topicId: apiVersion >= 13 ? r.readUUID() : r.readString(),
      partitions: r.readArray((r, j) => {
        const partition: Record<string, unknown> = {
          partitionIndex: r.readInt32(),
          errorCode: r.readInt16(),
          highWatermark: r.readInt64(),
          lastStableOffset: r.readInt64(),
          logStartOffset: r.readInt64(),
          divergingEpoch: { epoch: -1, endOffset: -1n },
          currentLeader: { leaderId: -1, leaderEpoch: -1 },
          snapshotId: { endOffset: -1n, epoch: -1 },
          abortedTransactions: r.readNullableArray((r) => ({ producerId: r.readInt64(), firstOffset: r.readInt64() })),
          preferredReadReplica: r.readInt32(),
          records: null,
          [K2_RECORDS]: null
        }
        if (partition["errorCode"] !== 0) errors.push([`/responses/${i}/partitions/${j}`, [partition["errorCode"] as number, null]])
        // COMPACT_RECORDS: the size plus one, 0 for null.
        let size = r.readUnsignedVarInt()
        if (size > 1) {
          size--
          partition[K2_RECORDS] = r.buffer.slice(r.position, r.position + size)
          r.skip(size)
        }
        readKnownTaggedFields(r, {
          0: (r) => {
            partition["divergingEpoch"] = { epoch: r.readInt32(), endOffset: r.readInt64() }
          },
          1: (r) => {
            partition["currentLeader"] = { leaderId: r.readInt32(), leaderEpoch: r.readInt32() }
          },
          2: (r) => {
            partition["snapshotId"] = { endOffset: r.readInt64(), epoch: r.readInt32() }
          }
        })
        return partition
      }, true, false)
    }))
  }
  readKnownTaggedFields(reader, apiVersion >= 16
    ? {
      0: (r) => {
        response.nodeEndpoints = r.readArray((r) => ({ nodeId: r.readInt32(), host: r.readString(), port: r.readInt32(), rack: r.readNullableString() }))
      }
    }
    : {})
  if (errors.length > 0) throw new ResponseError(apiKey, apiVersion, Object.fromEntries(errors), response)
  return response
}

type Parser = (correlationId: number, apiKey: number, apiVersion: number, reader: PReader) => unknown
/** `rest`: platformatic's header flags, then the callback (last). */
interface PConnection {
  send(apiKey: number, apiVersion: number, payload: unknown, parser: Parser, ...rest: Array<unknown>): unknown
}
interface PBroker {
  readonly host?: string
  readonly port?: number
}
interface PPool {
  get(broker: PBroker, callback: (error: unknown, connection: PConnection) => void): unknown
}

/**
 * A connection pool for `consumer.fetch` handing out `pool`'s connections (the consumer's own,
 * read at each call) with Fetch's parser swapped for `parser`, and a Fetch version it does not
 * parse failed unsent. One object for the consumer's life: platformatic keeps a fetch session per pool.
 */
export const rawFetchPool = (pool: () => PPool, parser: Parser) => {
  const wrapped = new WeakMap<PConnection, PConnection>()
  const wrap = (connection: PConnection, broker: PBroker): PConnection => {
    let w = wrapped.get(connection)
    if (w === undefined) {
      w = {
        send: (apiKey, apiVersion, payload, original, ...rest) => {
          if (apiKey !== FETCH) return connection.send(apiKey, apiVersion, payload, original, ...rest)
          if (apiVersion >= FIRST_VERSION && apiVersion <= LAST_VERSION) return connection.send(apiKey, apiVersion, payload, parser, ...rest)
          const callback = rest[rest.length - 1] as (error: unknown) => void
          const failure = new KafkaFetchVersionUnsupported(apiVersion, `${broker.host}:${broker.port}`)
          // Answered later, as a sent request is.
          queueMicrotask(() => callback(failure))
        }
      }
      wrapped.set(connection, w)
    }
    return w
  }
  return {
    get: (broker: PBroker, callback: (error: unknown, connection?: PConnection) => void) =>
      pool().get(broker, (error, connection) => callback(error, error ? connection : wrap(connection, broker)))
  }
}

type PUnsupported = new(message: string, properties?: { readonly k2Batch: KafkaCompressionUnsupported }) => Error

/**
 * A batch's records decompressed by platformatic's codecs (guarded: `guardPlatformaticCodecs`); a
 * batch they cannot read fails naming its partition and offset, and a codec id Kafka does not
 * define fails as platformatic's parse failed it.
 */
export const decompressingIn = (
  byBitmask: Readonly<Record<number, { readonly decompressSync?: (data: Buffer) => Buffer } | undefined>>,
  Unsupported: PUnsupported
) =>
(topic: string, partition: number) =>
(codec: number, data: Buffer): Buffer => {
  const algorithm = byBitmask[codec]
  if (algorithm?.decompressSync === undefined) throw new Unsupported(`Unsupported compression algorithm with bitmask ${codec}`)
  try {
    return algorithm.decompressSync(data)
  } catch (e) {
    const batch = (e as { k2Batch?: unknown }).k2Batch
    if (!(batch instanceof KafkaCompressionUnsupported)) throw e
    const named = batch.at(fetchedFrom({ topic, partition }))
    throw new Unsupported(named.message, { k2Batch: named })
  }
}

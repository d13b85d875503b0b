/**
 * Kafka wire conventions: topic names, dead-letter topics, registry subjects, header names
 * and topic specifications. Pure data and rules; no I/O.
 *
 * Topics are `market.{asset_class}.{data_type}.{exchange}` (e.g. `market.equities.trades.asx`),
 * keyed by symbol so that all of a symbol's events share one partition, in order. An exchange's
 * instrument master is `reference.instruments.{exchange}`, keyed by symbol and compacted: its key
 * is the table's key (exchange, symbol), so compaction keeps the latest of each instrument. Each
 * source topic has a dead-letter topic `<topic>.dlq` whose records carry the reason in headers.
 */
import type { AssetClass } from "./marketData.ts"

export type AssetClassName = typeof AssetClass.Type
export type DataType = "trades" | "quotes"

export interface TopicAddress {
  readonly assetClass: AssetClassName
  readonly dataType: DataType
  /** Exchange code as in the records (e.g. "ASX"); the topic name uses lower case. */
  readonly exchange: string
}

const ASSET_CLASSES: ReadonlySet<string> = new Set(["equities", "futures", "options", "fx", "crypto", "fixed_income"])
const DATA_TYPES: ReadonlySet<string> = new Set(["trades", "quotes"])
// Not ending in _dlq: Kafka takes '.' and '_' as one in names (its metrics), so X_DLQ's topics
// (market.equities.trades.x_dlq) would collide with X's dead-letter topics and the broker would
// refuse whichever came second.
const EXCHANGE = /^(?!.*_dlq$)[a-z0-9_-]{1,32}$/

/** An exchange code that can name topics: `isExchangeCode`, else this rule. */
export const EXCHANGE_CODE_RULE = "must be 1-32 upper-case letters, digits, _ or -, not ending in _DLQ (it names the topics)"
export const isExchangeCode = (code: string): boolean => code === code.toUpperCase() && EXCHANGE.test(code.toLowerCase())
/** Kafka's own rule for topic names. */
const KAFKA_TOPIC = /^[a-zA-Z0-9._-]{1,249}$/

export const DLQ_SUFFIX = ".dlq"

/** `market.{asset_class}.{data_type}.{exchange}`; the exchange is lower-cased. */
export const topicName = (address: TopicAddress): string =>
  `market.${address.assetClass}.${address.dataType}.${address.exchange.toLowerCase()}`

/** The address of a source topic name, or undefined when the name is not one (DLQs are not). */
export const parseTopicName = (name: string): TopicAddress | undefined => {
  const parts = name.split(".")
  if (parts.length !== 4 || parts[0] !== "market") return undefined
  const [, assetClass, dataType, exchange] = parts as [string, string, string, string]
  if (!ASSET_CLASSES.has(assetClass) || !DATA_TYPES.has(dataType) || !EXCHANGE.test(exchange)) return undefined
  return { assetClass: assetClass as AssetClassName, dataType: dataType as DataType, exchange: exchange.toUpperCase() }
}

const INSTRUMENTS_PREFIX = "reference.instruments."

/** `reference.instruments.{exchange}`; the exchange is lower-cased. */
export const instrumentsTopicName = (exchange: string): string => `${INSTRUMENTS_PREFIX}${exchange.toLowerCase()}`

/** The exchange (upper case) of an instruments topic name, or undefined when the name is not one. */
export const parseInstrumentsTopicName = (name: string): string | undefined => {
  const exchange = name.startsWith(INSTRUMENTS_PREFIX) ? name.slice(INSTRUMENTS_PREFIX.length) : ""
  return EXCHANGE.test(exchange) ? exchange.toUpperCase() : undefined
}

export const dlqTopicName = (topic: string): string => `${topic}${DLQ_SUFFIX}`

/**
 * The source or dead-letter topic that `name` is, or collides with in Kafka, which takes '.' and
 * '_' as one in topic names and refuses a second topic of the same form
 * (`market_equities_trades_asx` keeps `market.equities.trades.asx` from being created); else undefined.
 */
export const kafkaTwinOf = (name: string): string | undefined => {
  const key = name.replaceAll(".", "_")
  // The exchange as `name` writes it, without a '.': `market.equities.trades.asx.replay` could
  // only meet an exchange ASX_REPLAY's topic, so it is left free.
  const exchangeIn = (part: string, at: number) => EXCHANGE.test(part) && !name.slice(at, at + part.length).includes(".")
  const twin = (prefix: string, named: (exchange: string) => string): string | undefined => {
    if (!key.startsWith(prefix)) return undefined
    const rest = key.slice(prefix.length)
    if (exchangeIn(rest, prefix.length)) return named(rest)
    const source = rest.endsWith("_dlq") ? rest.slice(0, -"_dlq".length) : ""
    return exchangeIn(source, prefix.length) ? dlqTopicName(named(source)) : undefined
  }
  for (const assetClass of ASSET_CLASSES) {
    for (const dataType of DATA_TYPES) {
      const found = twin(`market_${assetClass}_${dataType}_`, (exchange) =>
        topicName({ assetClass: assetClass as AssetClassName, dataType: dataType as DataType, exchange }))
      if (found !== undefined) return found
    }
  }
  return twin(INSTRUMENTS_PREFIX.replaceAll(".", "_"), instrumentsTopicName)
}
export const isValidKafkaTopicName = (name: string): boolean =>
  KAFKA_TOPIC.test(name) && name !== "." && name !== ".."

/** Confluent TopicNameStrategy: the value schema of `topic` is registered under `<topic>-value`. */
export const valueSubject = (topic: string): string => `${topic}-value`

/** Header names (values are UTF-8 strings). */
export const Header = {
  /** The Confluent schema id of the value, also in its framing; for tooling that reads headers only. */
  schemaId: "k2-schema-id",
  /** Ties a record to the feed message / request it came from. */
  correlationId: "k2-correlation-id",
  /** W3C trace context (https://www.w3.org/TR/trace-context/). */
  traceparent: "traceparent",
  tracestate: "tracestate",
  /** On dead letters: the PoisonReason tag (NotFramed | Undecodable | UnknownSchemaId | SchemaInvalid), or WrongTopic. */
  dlqReason: "k2-dlq-reason",
  /** On dead letters: a human-readable detail (field problems, decoder message). */
  dlqDetail: "k2-dlq-detail",
  dlqSourceTopic: "k2-dlq-source-topic",
  dlqSourcePartition: "k2-dlq-source-partition",
  dlqSourceOffset: "k2-dlq-source-offset",
  /**
   * On dead letters the DLQ refused whole (too large for it): why; the value and source headers
   * (and a key over 1 KB) were left out, and the source topic holds them at the source coordinates.
   */
  dlqStripped: "k2-dlq-stripped"
} as const

/**
 * Sets `key` of a plain object built from the wire (record headers, Avro maps). Assigning
 * "__proto__" would set the prototype and drop the entry; other names assign as own properties.
 * Not a null-prototype object: V8 keeps those as dictionaries, 3x slower to build per record.
 */
export const setEntry = <V>(o: Record<string, V>, key: string, value: V): void => {
  if (key === "__proto__") Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true })
  else o[key] = value
}

/** compression.type values a broker takes. */
export const COMPRESSIONS = ["uncompressed", "gzip", "snappy", "lz4", "zstd", "producer"] as const
export type Compression = typeof COMPRESSIONS[number]

/** A topic as it should exist on the cluster. */
export interface TopicSpec {
  readonly name: string
  readonly partitions: number
  /** retention.ms; -1 keeps forever; undefined leaves the broker default. */
  readonly retentionMs?: number
  /** compression.type on the broker; undefined leaves the broker default ("producer"). */
  readonly compression?: Compression
  /** Extra topic configs (e.g. "max.message.bytes"). */
  readonly config?: Readonly<Record<string, string>>
  /**
   * `partitions` is K2's default, not the operator's (`--partitions` and `K2_TOPIC_PARTITIONS`
   * unset): a topic K2 creates gets it, an existing topic keeps the partitions it has (growing it
   * moves keys to other partitions for every producer and consumer of the topic; ADR-74).
   */
  readonly partitionsByDefault?: boolean
}

/** The specs, their partition counts marked as K2's default when `byDefault` (TopicSpec.partitionsByDefault). */
export const partitionsByDefault = (specs: ReadonlyArray<TopicSpec>, byDefault: boolean): ReadonlyArray<TopicSpec> =>
  byDefault ? specs.map((s) => ({ ...s, partitionsByDefault: true })) : specs

/** A configured source topic: where it lives and how it is kept. */
export interface SourceTopicConfig extends TopicAddress {
  readonly partitions: number
  readonly retentionMs?: number
  readonly compression?: Compression
}

const THIRTY_DAYS_MS = 30 * 24 * 3600 * 1000

/** The topic config entries of a spec (as the admin APIs take them). */
export const topicConfigEntries = (spec: TopicSpec): ReadonlyArray<readonly [string, string]> => {
  const entries: Array<readonly [string, string]> = []
  if (spec.retentionMs !== undefined) entries.push(["retention.ms", String(spec.retentionMs)])
  if (spec.compression !== undefined) entries.push(["compression.type", spec.compression])
  for (const [k, v] of Object.entries(spec.config ?? {})) entries.push([k, v])
  return entries
}

/**
 * What existing topics lack against their specs, given how the cluster describes them: more
 * partitions (never fewer: Kafka cannot shrink a topic) and config values (where described).
 * Only a count asked for grows a topic; one with fewer than K2's default is `kept` as it is
 * (`TopicSpec.partitionsByDefault`: growing moves keys, ADR-74).
 */
export const topicChanges = (
  present: ReadonlyArray<TopicSpec>,
  described: ReadonlyArray<{ readonly name: string; readonly partitions: number; readonly config?: Readonly<Record<string, string>> }>
): { readonly toGrow: ReadonlyArray<TopicSpec>; readonly kept: ReadonlyArray<TopicSpec>; readonly toAlter: ReadonlyArray<TopicSpec> } => {
  const byName = new Map(described.map((d) => [d.name, d]))
  const short = present.filter((s) => (byName.get(s.name)?.partitions ?? 0) < s.partitions)
  return {
    toGrow: short.filter((s) => s.partitionsByDefault !== true),
    kept: short.filter((s) => s.partitionsByDefault === true),
    // Configs not described (the principal may not read them) are not known to differ.
    toAlter: present.filter((s) => {
      const d = byName.get(s.name)
      if (d !== undefined && d.config === undefined) return false
      const config = d?.config ?? {}
      return topicConfigEntries(s).some(([k, v]) => config[k] !== v)
    })
  }
}

/** A source topic and its dead letters: rare, so 1 partition, kept 30 days, compressed as the source. */
const withDlq = (source: TopicSpec): ReadonlyArray<TopicSpec> => {
  const dead: TopicSpec = {
    name: dlqTopicName(source.name),
    partitions: 1,
    retentionMs: THIRTY_DAYS_MS,
    ...(source.compression === undefined ? {} : { compression: source.compression })
  }
  return [source, dead]
}

/** Each configured source topic plus its dead-letter topic. */
export const topicSpecs = (sources: ReadonlyArray<SourceTopicConfig>): ReadonlyArray<TopicSpec> =>
  sources.flatMap((s) =>
    withDlq({
      name: topicName(s),
      partitions: s.partitions,
      ...(s.retentionMs !== undefined ? { retentionMs: s.retentionMs } : {}),
      ...(s.compression !== undefined ? { compression: s.compression } : {})
    })
  )

/**
 * The specs (with DLQs) of source topics given by name, market data or instruments, all with
 * `partitions`; undefined when a name is neither.
 */
export const sourceTopicSpecs = (names: ReadonlyArray<string>, partitions: number): ReadonlyArray<TopicSpec> | undefined => {
  const specs: Array<TopicSpec> = []
  for (const name of names) {
    const address = parseTopicName(name)
    const exchange = parseInstrumentsTopicName(name)
    if (address !== undefined) specs.push(...topicSpecs([{ ...address, partitions }]))
    else if (exchange !== undefined) specs.push(...instrumentsTopicSpecs(exchange, partitions))
    else return undefined
  }
  return specs
}

/**
 * An exchange's instruments topic plus its dead-letter topic. Compacted: instruments are state,
 * so the topic keeps the latest record of each symbol for good instead of expiring it.
 */
export const instrumentsTopicSpecs = (exchange: string, partitions: number): ReadonlyArray<TopicSpec> =>
  withDlq({ name: instrumentsTopicName(exchange), partitions, config: { "cleanup.policy": "compact" } })

/** The Kafka client flags shared by the programs that talk to a broker. */
import { Config, Effect, Option } from "effect"
import { Flag } from "effect/cli"
import { UsageError } from "./common.ts"
import { defaultedSetting, inRange, integerFlag, integerRead, optionalSetting, optionalSourcedSetting, setting, sourcedSetting } from "./flags.ts"
import { makeWireCodec } from "../../domain/avro/codec.ts"
import { retrySchedule } from "../../layers/ingest/transientFaults.ts"
import type { WireSchemas } from "../../layers/ingest/writerSchemas.ts"
import { kindOfSubject, layerHttp, wireCodecFor } from "../../layers/kafka/schemaRegistry.ts"
import { SchemaRegistry, type SchemaRegistryError } from "../../services/SchemaRegistry.ts"
import * as Kafkajs from "../../layers/kafka/kafkajs.ts"
import * as Platformatic from "../../layers/kafka/platformatic.ts"
import type { KafkaSecurity } from "../../layers/kafka/security.ts"

const KAFKA_CLIENTS = ["platformatic", "kafkajs"] as const
export type KafkaClient = (typeof KAFKA_CLIENTS)[number]

const clientAbout = "Kafka client library (the default is the faster one measured by `npm run bench -- ingest`)"
const clientFrom = { env: "K2_KAFKA_CLIENT", read: (name: string) => Config.Literals(KAFKA_CLIENTS, name), fallback: "platformatic" as KafkaClient }

/** How long Kafka is waited for: ingest's first contact, produce's first contact and sends (both exit 1 past it). */
export const BROKER_WAIT_ENV = "K2_KAFKA_BROKER_WAIT_SECONDS"
/** --broker-wait as a failure to reach Kafka within it names it (ingest's and produce's). */
export const BROKER_WAIT_SETTING = `--broker-wait (${BROKER_WAIT_ENV})`

export const clientFlag = Flag.Literals("client", KAFKA_CLIENTS).pipe(setting(clientAbout, clientFrom))

/** `--client` for a program with a mode that talks to no broker (`mode` prefixes its help): the value says whether it was given. */
export const modeClientFlag = (mode: string) => Flag.Literals("client", KAFKA_CLIENTS).pipe(sourcedSetting(`${mode}: ${clientAbout}`, clientFrom))

/** What --help lists among the settings read from the environment alone: the kafkajs layer reads it; `mode`: the modes that talk to Kafka. */
export const kafkaClientEnvironment = (mode?: string) =>
  `KAFKAJS_LOG_LEVEL (${mode === undefined ? "" : `${mode}: `}--client kafkajs' own log, ${Kafkajs.KAFKAJS_LOG_LEVELS.slice(0, -1).join(", ")} or ${Kafkajs.KAFKAJS_LOG_LEVELS.at(-1)}, docs/operations.md)`

/**
 * KAFKAJS_LOG_LEVEL, which kafkajs and its layer read in any case, checked where a program talks to
 * Kafka: another value (`verbose`) left the log off without a word. Checked whichever --client, as
 * every setting's variable is.
 */
export const checkKafkajsLogLevel = (env: Readonly<Record<string, string | undefined>> = process.env): void => {
  const value = env["KAFKAJS_LOG_LEVEL"]
  // Empty is unset, for kafkajs too.
  if (value === undefined || value === "" || (Kafkajs.KAFKAJS_LOG_LEVELS as ReadonlyArray<string>).includes(value.toLowerCase())) return
  throw new UsageError({ message: `KAFKAJS_LOG_LEVEL: ${JSON.stringify(value)} is not one of ${Kafkajs.KAFKAJS_LOG_LEVELS.join(", ")} (any case)` })
}

/**
 * `--brokers` (or K2_KAFKA_BROKERS) as bootstrap servers, each host:port (port 1-65535). An empty value is
 * refused: the clients would quietly fall back to localhost:9092.
 */
export const brokerList = (text: string): ReadonlyArray<string> => {
  const brokers = text.split(",").map((b) => b.trim())
  const isHostPort = (b: string) => {
    const port = /^(?:\[[0-9A-Fa-f:.]+\]|[^\s:[\]]+):(\d{1,5})$/.exec(b)?.[1]
    return port !== undefined && Number(port) >= 1 && Number(port) <= 65_535
  }
  if (!brokers.every(isHostPort)) {
    throw new UsageError({ message: `--brokers: ${JSON.stringify(text)} is not a comma-separated list of host:port (K2_KAFKA_BROKERS too)` })
  }
  return brokers
}

export interface KafkaLayerOptions {
  /** Each error kafkajs logs (what a connect it retries by itself has met); platformatic's attempts fail with theirs. */
  readonly clientError?: (message: string) => void
  /** TLS and SASL (kafkaSecurityFrom, ADR-54); none: PLAINTEXT. */
  readonly security?: KafkaSecurity | undefined
  /** platformatic's producer retries a send through a broker restart (`produce`, ADR-89); kafkajs' own retries last ~30 s already. */
  readonly producerRidesOutRestart?: boolean
}

/** KafkaSource, KafkaSink and KafkaAdmin over the chosen client. */
/**
 * Loads `client`'s library, as its layer would (about 0.7 s of CPU, seconds on a loaded machine):
 * ingest does it before its first contact with Kafka, whose wait (--broker-wait) is the brokers'
 * time. Loaded inside it, it used up a 3 s wait before a TLS listener could say it wants TLS.
 */
export const loadKafkaClient = (client: KafkaClient): Effect.Effect<void> =>
  Effect.promise((): Promise<unknown> => client === "kafkajs" ? import("kafkajs") : import("@platformatic/kafka")).pipe(Effect.asVoid)

export const kafkaLayer = (client: KafkaClient, brokers: ReadonlyArray<string>, clientId: string, options: KafkaLayerOptions = {}) => {
  const security = options.security === undefined ? {} : { security: options.security }
  return client === "kafkajs"
    ? Kafkajs.layerKafkajs({ brokers, clientId, ...security, ...(options.clientError === undefined ? {} : { clientError: options.clientError }) })
    : Platformatic.layerPlatformatic({ brokers, clientId, ...security, producerRidesOutRestart: options.producerRidesOutRestart === true })
}

/**
 * `--partitions` of `ingest` and `produce`: the value says whether it is K2's default, which
 * only topics K2 creates get: an existing topic is grown to a count asked for only (ADR-74).
 */
const partitionsSetting = (about: string) =>
  integerFlag("partitions").pipe(
    defaultedSetting(about, {
      env: "K2_TOPIC_PARTITIONS",
      read: integerRead,
      fallback: 12,
      check: inRange(1, 10_000)
    })
  )

const partitionsAbout =
  "partitions of the topics: created with this many when missing; given (here or in the variable), existing topics with fewer are grown to it (their keys move to other partitions), else they keep theirs"

export const partitionsFlag = partitionsSetting(partitionsAbout)

/** `--partitions` with what bounds it further in one mode (`note`, in its help). */
export const partitionsFlagNoting = (note: string) => partitionsSetting(`${partitionsAbout}; ${note}`)

const registryAbout = "Confluent-compatible schema registry URL for the Avro schema ids (default: the repo's embedded ids)"
const registryFrom = {
  env: "K2_SCHEMA_REGISTRY_URL",
  read: Config.String,
  // Else every request fails on the URL, and ingest retries it as a registry that is down, for minutes.
  // A URL that does not parse (a port that is no number) failed every request as well.
  check: (url: string) => /^https?:\/\/[^\s/]+/i.test(url.trim()) && URL.canParse(url.trim()) ? undefined : "an http(s):// URL"
}

export const schemaRegistryFlag = Flag.String("schema-registry").pipe(optionalSetting(registryAbout, registryFrom))

/** `--schema-registry` for a program with a mode that reads no registry (`mode` prefixes its help): the value says whether it was given. */
export const modeSchemaRegistryFlag = (mode: string) => Flag.String("schema-registry").pipe(optionalSourcedSetting(`${mode}: ${registryAbout}`, registryFrom))

/**
 * The topics whose subjects a registry's ids are for: a registry gives one id per schema, so the
 * first topic of each kind stands for all of them. Undefined without a trades and a quotes topic.
 */
const subjectTopics = (topics: ReadonlyArray<string>) => {
  const first = (kind: string) => topics.find((t) => kindOfSubject(`${t}-value`) === kind)
  const [trades, quotes, instruments] = [first("trade"), first("quote"), first("instrument")]
  return trades === undefined || quotes === undefined ? undefined : { trades, quotes, ...(instruments === undefined ? {} : { instruments }) }
}

const noSubjectTopics = (topics: ReadonlyArray<string>) =>
  `--schema-registry needs a trades and a quotes topic among ${topics.length === 0 ? "--topics (none given)" : topics.join(", ")}`

/** With the other options, before anything starts: a registry whose subjects `topics` cannot name is a usage error. */
export const checkRegistryTopics = (registry: Option.Option<string>, topics: ReadonlyArray<string>) => {
  if (Option.isSome(registry) && subjectTopics(topics) === undefined) throw new UsageError({ message: noSubjectTopics(topics) })
}

/**
 * The wire codec: the embedded schema ids, or the registry's ids for the subjects of `topics`
 * (registering the repo's schemas there if needed). With a registry, `resolveSchema` is its
 * by-id lookup, for the ingestor to learn other writer schemas met on the topics. A registry
 * that cannot be reached (one starting beside the program) is waited out with capped, jittered
 * backoff, as ingestion waits out its faults; one that refuses is not. Topics that name no
 * subjects are the usage error `checkRegistryTopics` refuses before the program starts (exit 2).
 */
export const wireSchemas = (
  registry: Option.Option<string>,
  topics: ReadonlyArray<string>
): Effect.Effect<WireSchemas, UsageError | SchemaRegistryError> => {
  if (Option.isNone(registry)) return Effect.succeed({ codec: makeWireCodec() })
  const subjects = subjectTopics(topics)
  if (subjects === undefined) return Effect.fail(new UsageError({ message: noSubjectTopics(topics) }))
  return Effect.gen(function*() {
    const codec = yield* wireCodecFor(subjects).pipe(
      Effect.tapError((e) => e.retryable ? Effect.logWarning(`${e.message}; trying again`) : Effect.void),
      Effect.retry({ schedule: retrySchedule, while: (e) => e.retryable })
    )
    return { codec, resolveSchema: (yield* SchemaRegistry).schemaById }
  }).pipe(Effect.provide(layerHttp({ url: registry.value })))
}

export const wireCodec = (registry: Option.Option<string>, topics: ReadonlyArray<string>) =>
  Effect.map(wireSchemas(registry, topics), (s) => s.codec)

/**
 * KafkaAdmin on kafkajs' admin client: topics listed, created, grown, altered (with their current
 * overrides: kafkajs has no incremental alter) and deleted, and the message size limits the sink's
 * sends are cut under.
 */
import { Effect, Schedule } from "effect"
import type { Admin } from "kafkajs"
import { type TopicSpec, topicConfigEntries } from "../../domain/wire.ts"
import { KafkaAdmin } from "../../services/KafkaSink.ts"
import type { KafkaError } from "../../services/KafkaSource.ts"
import { configsUnlessRefused } from "./authorization.ts"
import type { Attempt } from "./classified.ts"
import { ensureTopicsWith, untilLed } from "./ensureTopics.ts"
import type { Kafkajs } from "./kafkajsClients.ts"
import type { AbsentOr } from "./kafkajsErrors.ts"
import { limitOf, MessageLimits, topicLimits } from "./messageLimits.ts"

type Described = ReadonlyArray<{ readonly resourceName: string; readonly configEntries: ReadonlyArray<{ readonly configName: string; readonly configValue: string | null }> }>
const limitsIn = (resources: Described) =>
  topicLimits(resources.map((r) => [r.resourceName, r.configEntries.find((e) => e.configName === "max.message.bytes")?.configValue] as const))

/** The max.message.bytes of topics and of the broker, read once each (ADR-78): the sink cuts its sends under them. */
export const messageLimitsOf = ({ ConfigResourceTypes }: Pick<Kafkajs, "ConfigResourceTypes">, admin: Admin, attempt: Attempt) =>
  new MessageLimits({
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

export const kafkajsAdmin = (
  { ConfigResourceTypes, ConfigSource }: Pick<Kafkajs, "ConfigResourceTypes" | "ConfigSource">,
  admin: Admin,
  attempt: Attempt,
  limits: MessageLimits,
  absentOr: AbsentOr
) => {
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

  return KafkaAdmin.of({
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
    // kafkajs retries a topic the broker does not know, then gives up as on an outage: told apart, it is UnknownTopic.
    deleteTopics: (names) =>
      attempt("deleteTopics", () => admin.deleteTopics({ topics: [...names] }).catch((e: unknown) => absentOr("deleteTopics", names, e)), names[0])
  })
}

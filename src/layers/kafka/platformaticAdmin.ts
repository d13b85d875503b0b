/**
 * KafkaAdmin on platformatic's admin client: topics listed, created, grown, altered (incrementally)
 * and deleted, and the message size limits the sink's sends are cut under.
 */
import type { Admin } from "@platformatic/kafka"
import { Effect } from "effect"
import { topicConfigEntries } from "../../domain/wire.ts"
import { KafkaAdmin } from "../../services/KafkaSink.ts"
import { configsUnlessRefused } from "./authorization.ts"
import type { Attempt } from "./classified.ts"
import { ensureTopicsWith, untilLed } from "./ensureTopics.ts"
import { limitOf, MessageLimits, topicLimits } from "./messageLimits.ts"
import type { Platformatic } from "./platformaticClients.ts"

type Described = ReadonlyArray<{ readonly resourceName: string; readonly configs: ReadonlyArray<{ readonly name: string; readonly value?: string | null | undefined }> }>
const limitsIn = (resources: Described) =>
  topicLimits(resources.map((r) => [r.resourceName, r.configs.find((e) => e.name === "max.message.bytes")?.value] as const))

/** The max.message.bytes of topics and of the broker, read once each (ADR-78): the sink cuts its sends under them. */
export const messageLimitsOf = (lib: Pick<Platformatic, "ConfigResourceTypes">, admin: Admin, attempt: Attempt) =>
  new MessageLimits({
    topics: (names) =>
      attempt("describeTopics", () =>
        admin.describeConfigs({
          includeSynonyms: false,
          resources: names.map((name) => ({ resourceType: lib.ConfigResourceTypes.TOPIC, resourceName: name, configurationKeys: ["max.message.bytes"] }))
        }), [...names]).pipe(Effect.map(limitsIn)),
    broker: () =>
      attempt("describeTopics", async () => {
        const { brokers } = await admin.metadata({ topics: [] })
        const [node] = brokers.keys()
        if (node === undefined) return undefined
        const [described] = await admin.describeConfigs({
          includeSynonyms: false,
          resources: [{ resourceType: lib.ConfigResourceTypes.BROKER, resourceName: String(node), configurationKeys: ["message.max.bytes"] }]
        })
        return limitOf(described?.configs.find((e) => e.name === "message.max.bytes")?.value)
      })
  })

export const platformaticAdmin = (
  lib: Pick<Platformatic, "ConfigResourceTypes" | "ConfigSources" | "IncrementalAlterConfigOperationTypes" | "findErrorBy">,
  admin: Admin,
  attempt: Attempt,
  limits: MessageLimits
) => {
  const describeTopics = Effect.fn("KafkaAdmin.describeTopics")(function*(names: ReadonlyArray<string>) {
    if (names.length === 0) return []
    const meta = yield* attempt("describeTopics", () => admin.metadata({ topics: [...names], forceUpdate: true }), names[0])
    const configs = yield* attempt("describeTopics", () =>
      admin.describeConfigs({
        includeSynonyms: false,
        resources: names.map((name) => ({ resourceType: lib.ConfigResourceTypes.TOPIC, resourceName: name }))
      }), names).pipe(configsUnlessRefused)
    // The sinks cut their sends under these limits, read here at ensureTopics (ADR-78).
    if (configs !== undefined) limits.learn(limitsIn(configs))
    return names.map((name) => {
      if (configs === undefined) return { name, partitions: meta.topics.get(name)?.partitionsCount ?? 0 }
      const c = configs.find((r) => r.resourceName === name)
      const config: Record<string, string> = {}
      for (const e of c?.configs ?? []) {
        if (e.configSource === lib.ConfigSources.DYNAMIC_TOPIC_CONFIG && e.value != null) config[e.name] = e.value
      }
      return { name, partitions: meta.topics.get(name)?.partitionsCount ?? 0, config }
    })
  })

  /**
   * Every partition of `names` led and, for the topics `atLeast` names, as many partitions as it
   * says: CreatePartitions answers while the broker's metadata may still show the old count, all led.
   */
  const waitForLeaders = (operation: string, names: ReadonlyArray<string>, atLeast: ReadonlyMap<string, number> = new Map()) =>
    untilLed(operation, names, async () => {
      const meta = await admin.metadata({ topics: [...names], forceUpdate: true })
      return names.every((n) => {
        const t = meta.topics.get(n)
        return t !== undefined && t.partitions.length === t.partitionsCount && t.partitionsCount >= (atLeast.get(n) ?? 0) &&
          t.partitions.every((p) => p !== undefined && p.leader >= 0)
      })
    })

  const listTopics = () => attempt("listTopics", () => admin.listTopics())

  return KafkaAdmin.of({
    ensureTopics: ensureTopicsWith({
      list: listTopics,
      create: (missing) =>
        // One request per topic: CreateTopics' configs apply to every topic of a request.
        Effect.forEach(missing, (s) =>
          attempt("createTopics", () =>
            admin.createTopics({
              topics: [s.name],
              partitions: s.partitions,
              replicas: -1,
              configs: topicConfigEntries(s).map(([name, value]) => ({ name, value }))
            }).then(
              () => [],
              // Another client created it since the listing: ensureTopics checks it as existing.
              (e: unknown) => lib.findErrorBy(e as Error, "apiId", "TOPIC_ALREADY_EXISTS") !== null ? [s.name] : Promise.reject(e)
            ), s.name), { concurrency: 4 }).pipe(
            Effect.tap(attempt("createTopics", () => waitForLeaders("createTopics", missing.map((s) => s.name)), missing[0]!.name)),
            Effect.map((raced) => raced.flat())
          ),
      describe: describeTopics,
      grow: (topics) =>
        attempt("createPartitions", () =>
          admin.createPartitions({ topics: topics.map((s) => ({ name: s.name, count: s.partitions })) }), topics[0]!.name).pipe(
            Effect.andThen(attempt("createPartitions", () =>
              waitForLeaders("createPartitions", topics.map((s) => s.name), new Map(topics.map((s) => [s.name, s.partitions]))), topics[0]!.name))
          ),
      alter: (topics) =>
        // Incremental: only the spec's keys are set, other topic overrides stay.
        attempt("alterConfigs", () =>
          admin.incrementalAlterConfigs({
            resources: topics.map((s) => ({
              resourceType: lib.ConfigResourceTypes.TOPIC,
              resourceName: s.name,
              configs: topicConfigEntries(s).map(([name, value]) => ({
                name,
                configOperation: lib.IncrementalAlterConfigOperationTypes.SET,
                value
              }))
            }))
          }), topics[0]!.name).pipe(Effect.asVoid)
    }),
    describeTopics,
    listTopics,
    deleteTopics: (names) =>
      names.length === 0 ? Effect.void : attempt("deleteTopics", () => admin.deleteTopics({ topics: [...names] }), names[0])
  })
}

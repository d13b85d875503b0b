/**
 * KafkaAdmin on the in-memory broker: topics listed, created, grown, altered and deleted with the
 * real clients' steps (ensureTopics.ts), and the message size limits the sink's sends are cut under.
 */
import { Effect } from "effect"
import { KafkaAdmin } from "../../services/KafkaSink.ts"
import { ensureTopicsWith } from "./ensureTopics.ts"
import type { MemoryBroker } from "./memoryBroker.ts"
import { guard } from "./memoryErrors.ts"
import { MessageLimits } from "./messageLimits.ts"

/** The max.message.bytes of topics and of the broker. Read as the clients read them: once a topic, at its describe or the first write to it. */
export const memoryMessageLimits = (broker: MemoryBroker) =>
  new MessageLimits({
    topics: (names) => guard("describeTopics", () => new Map(names.map((name) => [name, broker.maxMessageBytes(name)]))),
    broker: () => Effect.succeed(broker.messageMaxBytes)
  })

export const memoryAdmin = (broker: MemoryBroker, limits: MessageLimits) => {
  const describeTopics = (names: ReadonlyArray<string>) =>
    guard("describeTopics", () => {
      const described = names.map((name) => broker.describe(name))
      limits.learn(new Map(names.map((name) => [name, broker.maxMessageBytes(name)])))
      return described
    })

  return KafkaAdmin.of({
    // The real clients' steps (what grows and what is altered: topicChanges), over the broker.
    ensureTopics: ensureTopicsWith({
      list: () => Effect.sync(() => [...broker.topics.keys()]),
      create: (missing) =>
        guard("createTopics", () => {
          const existed: Array<string> = []
          for (const spec of missing) {
            // Created: a group may still subscribe to the name (the topic was deleted and made again).
            if (broker.createTopic(spec)) broker.topicChanged(spec.name)
            else existed.push(spec.name)
          }
          return existed
        }),
      describe: describeTopics,
      grow: (topics) =>
        guard("createPartitions", () => {
          for (const spec of topics) broker.addPartitions(spec.name, spec.partitions)
          for (const spec of topics) broker.topicChanged(spec.name)
        }),
      alter: (topics) => guard("alterConfigs", () => topics.forEach((spec) => broker.setConfig(spec)))
    }),
    describeTopics,
    listTopics: () => Effect.sync(() => [...broker.topics.keys()].sort()),
    deleteTopics: (names) =>
      guard("deleteTopics", () => {
        for (const n of names) broker.topic(n)
        for (const n of names) broker.deleteTopic(n)
      })
  })
}

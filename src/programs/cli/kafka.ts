/** The Kafka client flags shared by the programs that talk to a broker. */
import { Config } from "effect"
import { Flag } from "effect/cli"
import * as Kafkajs from "../../layers/kafka/kafkajs.ts"
import * as Platformatic from "../../layers/kafka/platformatic.ts"

export const KAFKA_CLIENTS = ["platformatic", "kafkajs"] as const
export type KafkaClient = (typeof KAFKA_CLIENTS)[number]

export const clientFlag = Flag.Literals("client", KAFKA_CLIENTS).pipe(
  Flag.withDescription("Kafka client library (the default is the faster one measured by `npm run bench -- ingest`)"),
  Flag.withFallbackConfig(Config.Literals(KAFKA_CLIENTS, "K2_KAFKA_CLIENT")),
  Flag.withDefault("platformatic" as KafkaClient)
)

/** KafkaSource, KafkaSink and KafkaAdmin over the chosen client. */
export const kafkaLayer = (client: KafkaClient, brokers: ReadonlyArray<string>, clientId: string) =>
  client === "kafkajs"
    ? Kafkajs.layerKafkajs({ brokers, clientId })
    : Platformatic.layerPlatformatic({ brokers, clientId })

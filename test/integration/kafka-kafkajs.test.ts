import { beforeAll } from "@effect/vitest"
import { layerKafkajs } from "../../src/layers/kafka/kafkajs.ts"
import { kafkaContract } from "../layers/kafka/kafkaContract.ts"
import { deleteRecords, ensureBroker, kafkaBrokers } from "../support/kafka.ts"

beforeAll(() => ensureBroker(), 600_000)

kafkaContract("kafkajs (real broker)", () => layerKafkajs({ brokers: kafkaBrokers, clientId: "k2-test" }), { timeoutMs: 90_000, deleteRecords })

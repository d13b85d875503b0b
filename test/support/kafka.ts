/**
 * The real Kafka broker of the integration tests: `ensureBroker()` runs `scripts/kafka.sh start`
 * (idempotent; the first run downloads the broker jars with Maven) and fails loudly when the
 * broker cannot be started. Override the address with K2_TEST_KAFKA_BROKERS to use another one.
 */
import { serviceStarter } from "./services.ts"

export const kafkaBrokers: ReadonlyArray<string> = (process.env.K2_TEST_KAFKA_BROKERS ?? "127.0.0.1:9092").split(",")

export const ensureBroker = serviceStarter("kafka.sh", "the Kafka broker", "K2_TEST_KAFKA_BROKERS")

/**
 * The real Kafka broker of the integration tests: `ensureBroker()` runs `scripts/kafka.sh start`
 * (idempotent; the first run downloads the broker jars with Maven) and fails loudly when the
 * broker cannot be started. Override the address with K2_TEST_KAFKA_BROKERS to use another one.
 */
import { execFileSync } from "node:child_process"
import * as path from "node:path"

export const kafkaBrokers: ReadonlyArray<string> = (process.env.K2_TEST_KAFKA_BROKERS ?? "127.0.0.1:9092").split(",")

const repo = path.resolve(import.meta.dirname, "../..")
let started = false

export const ensureBroker = (): void => {
  if (started || process.env.K2_TEST_KAFKA_BROKERS !== undefined) return
  try {
    execFileSync("bash", [path.join(repo, "scripts/kafka.sh"), "start"], { stdio: "pipe", timeout: 600_000 })
    started = true
  } catch (e) {
    const err = e as { stdout?: Buffer; stderr?: Buffer; message: string }
    throw new Error(
      `could not start the Kafka broker with scripts/kafka.sh start:\n${err.stdout?.toString() ?? ""}${err.stderr?.toString() ?? err.message}`
    )
  }
}

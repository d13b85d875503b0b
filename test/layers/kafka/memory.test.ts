import { layerMemory } from "../../../src/layers/kafka/memory.ts"
import { kafkaContract } from "./kafkaContract.ts"

kafkaContract("memory", () => layerMemory(), { timeoutMs: 10_000 })

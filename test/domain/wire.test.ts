/** Topic names and specs (the instruments topics beside the market data ones), and how existing topics are brought to their specs. */
import { assert, describe, it } from "@effect/vitest"
import {
  instrumentsTopicName,
  instrumentsTopicSpecs,
  parseInstrumentsTopicName,
  parseTopicName,
  sourceTopicSpecs,
  topicChanges
} from "../../src/domain/wire.ts"

describe("instruments topics", () => {
  it("are reference.instruments.{exchange}, and no market data topic", () => {
    assert.strictEqual(instrumentsTopicName("ASX"), "reference.instruments.asx")
    assert.strictEqual(parseInstrumentsTopicName("reference.instruments.asx"), "ASX")
    assert.isUndefined(parseInstrumentsTopicName("reference.instruments.asx.dlq"))
    assert.isUndefined(parseInstrumentsTopicName("reference.instruments."))
    assert.isUndefined(parseInstrumentsTopicName("market.equities.trades.asx"))
    assert.isUndefined(parseTopicName("reference.instruments.asx"))
  })

  it("are compacted, with a dead-letter topic that is not", () => {
    const [source, dlq] = instrumentsTopicSpecs("ASX", 3)
    assert.deepStrictEqual(source, { name: "reference.instruments.asx", partitions: 3, config: { "cleanup.policy": "compact" } })
    assert.strictEqual(dlq!.name, "reference.instruments.asx.dlq")
    assert.isUndefined(dlq!.config)
  })

  it("sourceTopicSpecs takes both kinds by name and refuses anything else", () => {
    const specs = sourceTopicSpecs(["market.equities.trades.asx", "reference.instruments.asx"], 4)
    assert.deepStrictEqual(specs?.map((s) => [s.name, s.partitions]), [
      ["market.equities.trades.asx", 4],
      ["market.equities.trades.asx.dlq", 1],
      ["reference.instruments.asx", 4],
      ["reference.instruments.asx.dlq", 1]
    ])
    assert.isUndefined(sourceTopicSpecs(["market.equities.trades.asx", "reference.prices.asx"], 4))
  })
})

describe("topicChanges", () => {
  const spec = { name: "market.equities.trades.asx", partitions: 12, retentionMs: 1000, compression: "zstd" as const }

  it("grows a topic with fewer partitions and never shrinks one with more", () => {
    const fewer = topicChanges([spec], [{ name: spec.name, partitions: 6, config: { "retention.ms": "1000", "compression.type": "zstd" } }])
    assert.deepStrictEqual(fewer.toGrow.map((s) => s.name), [spec.name])
    assert.deepStrictEqual(fewer.toAlter, [])
    const more = topicChanges([spec], [{ name: spec.name, partitions: 24, config: { "retention.ms": "1000", "compression.type": "zstd" } }])
    assert.deepStrictEqual(more.toGrow, [])
  })

  it("alters a topic whose configs differ from its spec, and leaves other overrides alone", () => {
    const drifted = topicChanges([spec], [{ name: spec.name, partitions: 12, config: { "retention.ms": "5", "compression.type": "zstd", "cleanup.policy": "compact" } }])
    assert.deepStrictEqual(drifted.toAlter.map((s) => s.name), [spec.name])
    const extra = topicChanges([spec], [{ name: spec.name, partitions: 12, config: { "retention.ms": "1000", "compression.type": "zstd", "cleanup.policy": "compact" } }])
    assert.deepStrictEqual(extra.toAlter, [])
  })
})

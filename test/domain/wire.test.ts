/** Topic names and specs of the instruments topics, beside the market data ones. */
import { assert, describe, it } from "@effect/vitest"
import {
  instrumentsTopicName,
  instrumentsTopicSpecs,
  parseInstrumentsTopicName,
  parseTopicName,
  sourceTopicSpecs
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

/** Topic names and specs (the instruments topics beside the market data ones), and how existing topics are brought to their specs. */
import { assert, describe, it } from "@effect/vitest"
import {
  instrumentsTopicName,
  instrumentsTopicSpecs,
  isExchangeCode,
  isValidKafkaTopicName,
  kafkaTwinOf,
  parseInstrumentsTopicName,
  parseTopicName,
  sourceTopicSpecs,
  topicChanges,
  topicSpecs
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

  it("never grows an existing topic to K2's default count (nobody asked for it): it keeps its partitions, and is named as kept", () => {
    const byDefault = { ...spec, partitionsByDefault: true }
    const changes = topicChanges([byDefault], [{ name: spec.name, partitions: 3, config: { "retention.ms": "1000", "compression.type": "zstd" } }])
    assert.deepStrictEqual(changes.toGrow, [])
    assert.deepStrictEqual(changes.kept.map((s) => s.name), [spec.name])
    const asked = topicChanges([spec], [{ name: spec.name, partitions: 3, config: { "retention.ms": "1000", "compression.type": "zstd" } }])
    assert.deepStrictEqual(asked.kept, [])
  })

  it("alters a topic whose configs differ from its spec, and leaves other overrides alone", () => {
    const drifted = topicChanges([spec], [{ name: spec.name, partitions: 12, config: { "retention.ms": "5", "compression.type": "zstd", "cleanup.policy": "compact" } }])
    assert.deepStrictEqual(drifted.toAlter.map((s) => s.name), [spec.name])
    const extra = topicChanges([spec], [{ name: spec.name, partitions: 12, config: { "retention.ms": "1000", "compression.type": "zstd", "cleanup.policy": "compact" } }])
    assert.deepStrictEqual(extra.toAlter, [])
  })
})

describe("topic names under Kafka's rules", () => {
  const assetClasses = ["equities", "futures", "options", "fx", "crypto", "fixed_income"] as const
  const codes = ["ASX", "ASX_DLQ", "CHI_X", "CHI-X", "A", "X".repeat(32)].filter(isExchangeCode)
  const names = codes.flatMap((exchange) => [
    ...topicSpecs(assetClasses.flatMap((assetClass) =>
      (["trades", "quotes"] as const).map((dataType) => ({ assetClass, dataType, exchange, partitions: 1 }))
    )),
    ...instrumentsTopicSpecs(exchange, 1)
  ].map((s) => s.name))

  it("every source and dead-letter topic name is legal", () => {
    for (const name of names) assert.isTrue(isValidKafkaTopicName(name), name)
  })

  it("no two names collide once Kafka maps '.' to '_' (a broker refuses the second)", () => {
    // An exchange ASX_DLQ named market.equities.trades.asx_dlq, which the broker takes for the DLQ
    // of ASX (market.equities.trades.asx.dlq): whichever came second could not be created.
    const mangled = new Map<string, string>()
    for (const name of names) {
      const key = name.replaceAll(".", "_")
      assert.isUndefined(mangled.get(key), `${name} collides with ${mangled.get(key)}`)
      mangled.set(key, name)
    }
    assert.isFalse(isExchangeCode("ASX_DLQ"))
    assert.isUndefined(parseTopicName("market.equities.trades.asx_dlq"))
    assert.isUndefined(parseInstrumentsTopicName("reference.instruments.asx_dlq"))
    assert.isTrue(isExchangeCode("DLQ") && isExchangeCode("ASX_DLQX") && isExchangeCode("ASX-DLQ"))
  })
})

describe("kafkaTwinOf", () => {
  it("names the source or dead-letter topic a name is, or collides with once Kafka maps '.' to '_'", () => {
    // replay --topic market_equities_trades_asx made a topic that kept ASX's own from being created.
    assert.strictEqual(kafkaTwinOf("market_equities_trades_asx"), "market.equities.trades.asx")
    assert.strictEqual(kafkaTwinOf("market.equities.trades.asx"), "market.equities.trades.asx")
    assert.strictEqual(kafkaTwinOf("market.fixed_income.quotes.chi_x"), "market.fixed_income.quotes.chi_x")
    assert.strictEqual(kafkaTwinOf("market.equities.trades.asx_dlq"), "market.equities.trades.asx.dlq")
    assert.strictEqual(kafkaTwinOf("market_fixed_income.trades_asx.dlq"), "market.fixed_income.trades.asx.dlq")
    assert.strictEqual(kafkaTwinOf("reference_instruments.asx"), "reference.instruments.asx")
    assert.strictEqual(kafkaTwinOf("reference.instruments.asx_dlq"), "reference.instruments.asx.dlq")
    for (const free of ["replay.asx", "market_equities_trades", "market.equities.trades.ASX", "market.equities.trades.asx.replay", "market.stocks.trades.asx"]) {
      assert.isUndefined(kafkaTwinOf(free), free)
    }
  })
})

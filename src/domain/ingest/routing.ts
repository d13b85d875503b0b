/**
 * Whether a decoded record belongs on the topic it was read from. Producers route by the record's
 * kind, asset class and exchange (`topicName`, `instrumentsTopicName`); ingestion dead-letters a
 * record naming others (`WrongTopic`), and a follow's live part (replay/live.ts) skips it, so the
 * two agree on what the tables hold.
 */
import type { WireMessage } from "../avro/codec.ts"
import { parseInstrumentsTopicName, parseTopicName } from "../wire.ts"

export const TABLE_OF_KIND = { trade: "trades", quote: "quotes", instrument: "instruments" } as const

export type RoutedTable = (typeof TABLE_OF_KIND)[keyof typeof TABLE_OF_KIND]

/** What a topic's name says its records are: the exchange upper case, as in the records. */
export interface TopicRoute {
  readonly assetClass: string | undefined
  readonly exchange: string | undefined
}

export const topicRouteOf = (topic: string): TopicRoute => {
  const market = parseTopicName(topic)
  return market === undefined
    ? { assetClass: undefined, exchange: parseInstrumentsTopicName(topic) }
    : { assetClass: market.assetClass, exchange: market.exchange }
}

const kindOf = (message: WireMessage) => `${message.kind === "instrument" ? "an" : "a"} ${message.kind}`

/**
 * Why a decoded message does not belong on a topic of `table` at `route`, or undefined when it
 * does: a record naming another kind, exchange or asset class was misrouted, and its partition does
 * not order it with the rest of its stream.
 */
export const misplaced = (message: WireMessage, table: RoutedTable, route: TopicRoute): string | undefined => {
  if (TABLE_OF_KIND[message.kind] !== table) return kindOf(message)
  const { exchange } = message.value
  // Trade and quote exchange codes are upper case (the schema says so); an instrument's is free
  // text, routed by its lower case (`instrumentsTopicName`).
  const code = message.kind === "instrument" ? exchange.toUpperCase() : exchange
  if (route.exchange !== undefined && code !== route.exchange) return `${kindOf(message)} of exchange ${exchange}`
  if (route.assetClass !== undefined && message.kind !== "instrument" && message.value.asset_class !== route.assetClass) {
    return `${kindOf(message)} of asset class ${message.value.asset_class}`
  }
  return undefined
}

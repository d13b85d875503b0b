/**
 * kafkajs 2.2.4 folds a record's headers into an object with one object spread per header
 * (`record/v0/decoder.js`): quadratic, on the event loop. A record with 5,000 headers took 54 s to
 * decode (1,000: 1 s), during which nothing else ran, heartbeats included: the session timed out,
 * the group rebalanced, the batch was fetched and decoded again, and ingest stalled for good on a
 * record Kafka had taken. Here the array of a record's headers folds itself in one pass, to the
 * same object (a repeated name: its values in an array), except that a name Object.prototype
 * has ("constructor") is its value, not [the inherited member, its value]. When a name repeats,
 * the headers in order are kept on it too (`IN_ORDER`): the object has a name's values together.
 */
import { createRequire } from "node:module"
import { setEntry } from "../../domain/wire.ts"

type HeaderValue = Buffer | null
export interface KafkajsHeader<V = HeaderValue> {
  readonly key: string
  readonly value: V
}

const require = createRequire(import.meta.url)

/** Where a folded object whose names repeat keeps its headers in order (not enumerated). */
export const IN_ORDER = Symbol("k2.headersInOrder")

/**
 * The same object kafkajs' fold builds, in one pass (a repeated name: its values in an array, the
 * headers in order under IN_ORDER). Also the headers kafkajs' producer takes, which it sends so.
 */
export const foldHeaders = <V>(headers: ReadonlyArray<KafkajsHeader<V>>): Record<string, V | Array<V>> => {
  const out: Record<string, V | Array<V>> = {}
  let repeated = false
  for (const { key, value } of headers) {
    if (!Object.hasOwn(out, key)) setEntry<V | Array<V>>(out, key, value)
    else {
      repeated = true
      const given = out[key]!
      if (Array.isArray(given)) given.push(value)
      else out[key] = [given, value]
    }
  }
  if (repeated) Object.defineProperty(out, IN_ORDER, { value: headers })
  return out
}

/**
 * Makes kafkajs' decoder fold headers in one pass (once; the kafkajs layer calls it when it loads
 * kafkajs, before any fetch is decoded). Whether the decoder was found as expected and now does.
 */
export const foldKafkajsHeadersLinearly = (): boolean => {
  const Decoder = require("kafkajs/src/protocol/decoder.js") as { prototype: { readVarIntArray?: (reader: unknown) => Array<unknown> } }
  const HeaderDecoder = require("kafkajs/src/protocol/recordBatch/header/v0/decoder.js") as unknown
  const original = Decoder.prototype.readVarIntArray
  if (typeof original !== "function" || typeof HeaderDecoder !== "function") return false
  if ((original as { k2Linear?: boolean }).k2Linear === true) return true
  const patched = function(this: unknown, reader: unknown) {
    const items = original.call(this, reader)
    // Only the headers array, whose one use is kafkajs' `.reduce(spread, {})`: its own reduce
    // answers the fold at once (the reducer kafkajs passes is not called).
    if (reader === HeaderDecoder) {
      Object.defineProperty(items, "reduce", { value: () => foldHeaders(items as Array<KafkajsHeader>) })
    }
    return items
  }
  Object.assign(patched, { k2Linear: true })
  Decoder.prototype.readVarIntArray = patched
  return true
}

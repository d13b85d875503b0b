/** A DuckDB chunk of a replay statement (windowStatement.ts) to events: the replay's hot path (duckdb/vectors.ts). */
import type { DuckDBDataChunk } from "@duckdb/node-api"
import type { QuoteEvent, ReplayEvent, TradeEvent } from "../../services/ReplayEngine.ts"
import {
  bigintAt,
  bigints,
  DecimalCache,
  decimalAt,
  decimals,
  doubles,
  isNull,
  joinedAt,
  type Texts,
  textAt,
  texts,
  ubytes
} from "../duckdb/vectors.ts"
import type { Profile } from "./profiles.ts"

const EMPTY_RECORD: Readonly<Record<string, string>> = Object.freeze({})
const EMPTY_LIST: ReadonlyArray<string> = Object.freeze([])

/** Per statement: its column positions, the profiles of its day and the caches of its decimals with few values. */
export interface ChunkReader {
  readonly column: (name: string) => number
  /** The kind of every row when the statement has no `kind` column. */
  readonly only: 0 | 1 | undefined
  readonly profiles: ReadonlyMap<number, Profile>
  readonly decimals: readonly [DecimalCache, DecimalCache, DecimalCache, DecimalCache]
}

export const chunkReader = (names: ReadonlyArray<string>, only: 0 | 1 | undefined, profiles: ReadonlyMap<number, Profile>): ChunkReader => ({
  column: (name) => names.indexOf(name),
  only,
  profiles,
  decimals: [new DecimalCache(), new DecimalCache(), new DecimalCache(), new DecimalCache()]
})

interface Extra {
  readonly c: ReadonlyArray<string> | null
  readonly v: Readonly<Record<string, string>> | null
}

/** One DuckDB chunk of a replay statement (`windowSql`) to events. */
export const chunkToEvents = (chunk: DuckDBDataChunk, reader: ChunkReader): Array<ReplayEvent> => {
  const n = chunk.rowCount
  const at = (name: string) => chunk.getColumnVector(reader.column(name))
  const [mid0, mid1, mid2, id0, id1, id2, extra] = ["mid_0", "mid_1", "mid_2", "id_0", "id_1", "id_2", "extra"]
    .map((name) => texts(at(name))) as [Texts, Texts, Texts, Texts, Texts, Texts, Texts]
  const quotes = reader.only !== 1
  const [a, b] = [decimals(at("a")), decimals(at("b"))]
  const [c, d] = quotes ? [decimals(at("c")), decimals(at("d"))] : [undefined, undefined]
  const kind = reader.only === undefined ? ubytes(at("kind")) : undefined
  const profile = doubles(at("profile"))
  const ts = doubles(at("ts"))
  const its = doubles(at("its"))
  const seq = bigints(at("seq"))
  const off = bigints(at("kafka_offset"))
  const [da, db, dc, dd] = reader.decimals
  const profiles = reader.profiles
  const out = new Array<ReplayEvent>(n)
  // Required columns are never NULL. Object literals of one shape per kind (no spreads).
  for (let r = 0; r < n; r++) {
    const p = profiles.get(profile[r]!)
    if (p === undefined) throw new Error(`replay: a row of profile ${profile[r]} is not among its day's profiles`)
    const message_id = joinedAt(mid0, mid1, mid2, r)
    const { symbol, exchange, asset_class, currency, kafka_topic, kafka_partition } = p
    const exchange_timestamp = ts[r]!
    const more = isNull(extra.valid, r) ? undefined : (JSON.parse(textAt(extra, r)) as Extra)
    const conditions = more?.c ?? EMPTY_LIST
    const vendor_data = more?.v ?? EMPTY_RECORD
    const source_sequence = bigintAt(seq, r)
    const ingestion_timestamp = its[r]!
    const kafka_offset = off.items[r]!
    out[r] = (kind === undefined ? reader.only : kind[r]) === 1
      ? {
        _tag: "Trade", message_id, symbol, exchange, asset_class, exchange_timestamp, currency, conditions, source_sequence,
        ingestion_timestamp, kafka_topic, kafka_partition, kafka_offset, vendor_data,
        trade_id: joinedAt(id0, id1, id2, r), price: decimalAt(a, r, da), quantity: decimalAt(b, r, db), side: p.side!
      } satisfies TradeEvent
      : {
        _tag: "Quote", message_id, symbol, exchange, asset_class, exchange_timestamp, currency, conditions, source_sequence,
        ingestion_timestamp, kafka_topic, kafka_partition, kafka_offset, vendor_data,
        quote_id: joinedAt(id0, id1, id2, r), bid_price: decimalAt(a, r, da), bid_size: decimalAt(b, r, db),
        ask_price: decimalAt(c!, r, dc), ask_size: decimalAt(d!, r, dd)
      } satisfies QuoteEvent
  }
  return out
}

/** A DuckDB chunk of a replay statement (windowStatement.ts) to events: the replay's hot path (duckdb/vectors.ts). */
import type { DuckDBDataChunk } from "@duckdb/node-api"
import type { QuoteEvent, ReplayEvent, TradeEvent } from "../../services/ReplayEngine.ts"
import {
  bigintAt,
  bigints,
  decimal8At,
  DecimalCache,
  type Decimals8,
  decimals8,
  doubles,
  isNull,
  joinedAt,
  nullableDoubles,
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

/** Null where the column is null: K2's column another engine dropped (ADR-2). */
const eventDecimalAt = (d: Decimals8, r: number, cache: DecimalCache): string | null =>
  isNull(d.valid, r) ? null : decimal8At(d, r, cache)

/** An id's pieces joined, or null where the id is null (dropped by another engine). */
const idAt = (p0: Texts, p1: Texts, p2: Texts, r: number): string | null => isNull(p0.valid, r) ? null : joinedAt(p0, p1, p2, r)

/** One DuckDB chunk of a replay statement (`windowSql`) to events. */
export const chunkToEvents = (chunk: DuckDBDataChunk, reader: ChunkReader): Array<ReplayEvent> => {
  const n = chunk.rowCount
  const at = (name: string) => chunk.getColumnVector(reader.column(name))
  const [mid0, mid1, mid2, id0, id1, id2, extra] = ["mid_0", "mid_1", "mid_2", "id_0", "id_1", "id_2", "extra"]
    .map((name) => texts(at(name))) as [Texts, Texts, Texts, Texts, Texts, Texts, Texts]
  const quotes = reader.only !== 1
  const [a, b] = [decimals8(at("a")), decimals8(at("b"))]
  const [c, d] = quotes ? [decimals8(at("c")), decimals8(at("d"))] : [undefined, undefined]
  const kind = reader.only === undefined ? ubytes(at("kind")) : undefined
  const profile = doubles(at("profile"))
  const ts = doubles(at("ts"))
  const its = nullableDoubles(at("its"))
  const seq = bigints(at("seq"))
  const off = bigints(at("kafka_offset"))
  const [da, db, dc, dd] = reader.decimals
  const profiles = reader.profiles
  const out = new Array<ReplayEvent>(n)
  // The key columns (message_id, exchange_timestamp) are never NULL; the others are where another engine
  // dropped them (ADR-2), read by the vectors' validity: read without it, they were whatever the vector
  // held (a dropped quantity -92233720368.54775808, an offset at random). Object literals of one shape per kind (no spreads).
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
    // Lineage: null where dropped (as the profile's topic and partition).
    const ingestion_timestamp = isNull(its.valid, r) ? null : its.items[r]!
    const kafka_offset = bigintAt(off, r)
    out[r] = (kind === undefined ? reader.only : kind[r]) === 1
      ? {
        _tag: "Trade", message_id, symbol, exchange, asset_class, exchange_timestamp, currency, conditions, source_sequence,
        ingestion_timestamp, kafka_topic, kafka_partition, kafka_offset, vendor_data,
        trade_id: idAt(id0, id1, id2, r), price: eventDecimalAt(a, r, da), quantity: eventDecimalAt(b, r, db), side: p.side
      } satisfies TradeEvent
      : {
        _tag: "Quote", message_id, symbol, exchange, asset_class, exchange_timestamp, currency, conditions, source_sequence,
        ingestion_timestamp, kafka_topic, kafka_partition, kafka_offset, vendor_data,
        quote_id: idAt(id0, id1, id2, r), bid_price: eventDecimalAt(a, r, da), bid_size: eventDecimalAt(b, r, db),
        ask_price: eventDecimalAt(c!, r, dc), ask_size: eventDecimalAt(d!, r, dd)
      } satisfies QuoteEvent
  }
  return out
}

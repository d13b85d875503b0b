/**
 * A row's `Profile`: the values it shares with many others, carried through a replay statement as
 * one number (a hash of them, `profileKey`) and looked up in its day's few profiles (`makeProfilesOf`).
 */
import { Effect } from "effect"
import type { MarketTable } from "../../services/QueryEngine.ts"
import { attempt, type DuckDb, executeOne } from "../duckdb/DuckDb.ts"
import { blameFile } from "../duckdb/readPlan.ts"
import { filteredFiles, Params } from "../query/sql.ts"
import type { DayRead } from "./tablePlans.ts"

/** The values a row shares with many others: one per symbol and side, nearly. */
export interface Profile {
  readonly symbol: string
  /** Each but the symbol null where another engine dropped it (ADR-2). */
  readonly exchange: string | null
  readonly asset_class: string | null
  readonly currency: string | null
  /** A trade's side; null for a quote. */
  readonly side: string | null
  readonly kafka_topic: string | null
  readonly kafka_partition: number | null
}

const PROFILE: ReadonlyArray<keyof Profile> = ["symbol", "exchange", "asset_class", "currency", "side", "kafka_topic", "kafka_partition"]

/**
 * A table's profile values, in `PROFILE`'s order: `side` NULL for quotes. The partition as the int it
 * is in K2's schema: promoted to long by another engine (ADR-2), a field-id read gives a BIGINT,
 * which events carried as a bigint.
 */
const profileValues = (table: MarketTable) =>
  PROFILE.map((name) => (name === "side" && table === "quotes" ? "NULL::VARCHAR" : name === "kafka_partition" ? "kafka_partition::INTEGER" : name))

/** A profile's key: 53 bits of DuckDB's hash of its values and `salt`, exact as a double. */
export const profileKey = (table: MarketTable, salt: string) => `(hash(${profileValues(table).join(", ")}, ${salt}::UBIGINT) >> 11)::DOUBLE`

/** The distinct profiles of one table's rows `from` its filtered files, with their keys. */
const profilesPart = (table: MarketTable, from: string, salt: string) =>
  `SELECT ${profileKey(table, salt)} AS key, ${profileValues(table).map((v, i) => `${v} AS ${PROFILE[i]}`).join(", ")} FROM ${from}`

/**
 * The day's profiles by key. Keys are 53 bits of a hash: should two profiles ever share one,
 * the keys are drawn again with another salt, so a key always names exactly one profile.
 */
export const makeProfilesOf = (duckDb: DuckDb["Service"]) =>
  ({ paths, plans, symbols }: DayRead, from: number, to: number) =>
    Effect.gen(function*() {
      for (let salt = 0n; salt < 4n; salt++) {
        const params = new Params()
        const parts = plans.map(({ table, plan }) => profilesPart(table, filteredFiles(params, plan, from, to, symbols), params.add(salt)))
        const sql = `SELECT DISTINCT * FROM (${parts.join(" UNION ALL ")})`
        // As the windows: a consumer gone mid-statement must not leave it running on a pooled connection.
        const rows = yield* duckDb.withConnection((connection) =>
          attempt("replay profiles", async () => (await executeOne(connection, sql, params.values, (s) => s.runAndReadAll())).getRowObjectsJS(), () =>
            connection.interrupt())
        ).pipe(Effect.mapError(blameFile(paths)))
        const profiles = new Map<number, Profile>()
        for (const { key, ...profile } of rows) profiles.set(key as number, profile as unknown as Profile)
        if (profiles.size === rows.length) return { salt, profiles }
      }
      return yield* Effect.die(new Error("replay: four salts in a row gave two profiles one key"))
    })

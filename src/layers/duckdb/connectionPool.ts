/** `size` connections to the instance, each on UTC and the Gregorian calendar, closed with the pool. */
import type { DuckDBInstance } from "@duckdb/node-api"
import { Effect, Pool } from "effect"
import { attempt } from "./interruptibleCalls.ts"
import { useUtcGregorian } from "./sessionTimeSettings.ts"

export const connectionPool = (instance: DuckDBInstance, size: number) =>
  Pool.make({
    acquire: Effect.acquireRelease(
      attempt("connect", async () => {
        const connection = await instance.connect()
        await useUtcGregorian(connection)
        return connection
      }),
      (connection) => Effect.sync(() => connection.closeSync())
    ),
    size
  })

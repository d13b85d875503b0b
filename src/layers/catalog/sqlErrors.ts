/**
 * A database driver's failures as typed catalog errors: a statement refused for good
 * (CatalogRejected), the database failing (CatalogUnavailable, waited out), a name taken (AlreadyExists).
 */
import { Effect } from "effect"
import { AlreadyExists, type CatalogError, CatalogRejected, CatalogUnavailable, catalogError } from "../../services/Catalog.ts"
import { classifySqlError, sqlFailureText } from "./drivers.ts"
import { failureText } from "./failureText.ts"

/** A driver failure: the statement refused for good, or the database failing (waited out). */
export const sqlFailure = (cause: unknown) =>
  catalogError(
    classifySqlError(cause) === "refused"
      ? new CatalogRejected({ detail: sqlFailureText(cause) })
      : new CatalogUnavailable({ detail: failureText(cause) })
  )

/** A driver call; one answered at once (SQLite) resumes without waiting for the event loop. */
export const db = <A>(f: () => A | Promise<A>) =>
  Effect.try({ try: f, catch: sqlFailure }).pipe(
    Effect.flatMap((result) => result instanceof Promise ? Effect.tryPromise({ try: () => result, catch: sqlFailure }) : Effect.succeed(result))
  )

/** An INSERT of something named `name` that failed: it exists already (a row with its key), or the database failed. */
export const insertError = (name: string) => (e: { readonly cause?: unknown }): CatalogError =>
  classifySqlError(e.cause) === "unique-violation" ? catalogError(new AlreadyExists({ name })) : sqlFailure(e.cause ?? e)

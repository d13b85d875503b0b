/**
 * The commit path's answers: what a commit whose request may have reached the server became
 * (CommitStateUnknown unless surely refused), and its statuses as typed catalog errors.
 */
import { Effect } from "effect"
import { type CatalogError, catalogError, CommitConflict, CommitStateUnknown, type LoadedTable, NoSuchTable } from "../../services/Catalog.ts"
import { errorMessage, NOT_IMPLEMENTED, staleSnapshot, unexpected } from "./restErrors.ts"
import type { Reply } from "./restReply.ts"

/** The commit of `table` may have landed or not: the caller looks for its `k2.commit-id` before retrying. */
export const commitStateUnknown = (table: string) => (detail: string) => catalogError(new CommitStateUnknown({ table, detail }))

/**
 * The request may have reached the server before the connection broke or timed out; a token
 * endpoint failing before it was sent leaves it surely not landed, as does a certificate
 * refused in the handshake (CatalogRejected).
 */
export const commitSendFailure = (table: string) => (e: CatalogError) =>
  e.reason._tag === "CatalogRejected" ? e : commitStateUnknown(table)(e.message)

/** A commit's answer: the table as committed (`loaded` decodes it), or why not, typed. */
export const commitAnswer = Effect.fnUntraced(function*(
  table: string,
  reply: Reply,
  loaded: (reply: Reply) => Effect.Effect<LoadedTable, CatalogError>
) {
  const unknown = commitStateUnknown(table)
  // Accepted: an answer that does not decode says nothing of what landed, so the caller must
  // look (and keep the commit's files) rather than take it as refused.
  if (reply.status === 200) return yield* Effect.mapError(loaded(reply), (e) => unknown(`accepted, but ${e.message}`))
  if (reply.status === 409 || staleSnapshot(reply)) return yield* catalogError(new CommitConflict({ table, detail: errorMessage(reply) }))
  if (reply.status === 404) return yield* catalogError(new NoSuchTable({ table }))
  // Another 2xx (a gateway's 202 Accepted, a 204) or a 303 See Other may answer a request carried out;
  // a 501 says the server does not implement the route (Iceberg Java: UnsupportedOperationException).
  if ((reply.status >= 500 && reply.status !== NOT_IMPLEMENTED) || reply.status === 303 || (reply.status >= 200 && reply.status < 300)) {
    return yield* unknown(errorMessage(reply))
  }
  // A redirect it was not sent on (301, 302: not carried out), 400 (a bad update), 501 or 401/403/419: the commit was refused, it did not land.
  return yield* unexpected(`commit ${table}`, reply)
})

/** What every route handler is given: the server's options and the request's correlation id (who asks: principal.ts). */
import { Context } from "effect"
import type { ServerOptions } from "./config.ts"

/** What the request pipeline learned about the request: set per request, read by handlers. */
export interface RequestInfo {
  readonly correlationId: string
  /**
   * Who a per-caller limit counts the request against (the sandbox's runs): `key:<name>`, or the
   * client address without a valid key (principal.ts `clientAddress`), as the rate limit counts.
   */
  readonly caller: string
}
export const CurrentRequest = Context.Reference<RequestInfo>("k2/http/CurrentRequest", {
  defaultValue: () => ({ correlationId: "", caller: "" })
})

export interface HandlerOptions extends ServerOptions {
  /** The warehouse directory, checked by /ready. */
  readonly warehouse: string
}

/**
 * Rows of a page whose request leaves `limit` out: 1000, or K2_API_MAX_PAGE_ROWS when that is lower
 * (a server configured for pages of 100 answered 1000 rows to any request without a limit).
 */
export const defaultPageRows = (options: ServerOptions) => Math.min(1_000, options.maxPageRows)

/**
 * The `settings` fingerprint (reads.ts) of a page whose request leaves `limit` out on a server whose
 * K2_API_MAX_PAGE_ROWS is below 1000: its length is that setting, which an operator may change and
 * restart with, and the same snapshot then answers another page. Named in the ETag, and not immutable,
 * so no cache keeps a page of the old length (ADR-107). Undefined when the length is the request's own.
 */
export const defaultPageSettings = (options: ServerOptions, limit: string | undefined): string | undefined =>
  limit === undefined && options.maxPageRows < 1_000 ? `page-rows:${options.maxPageRows}` : undefined

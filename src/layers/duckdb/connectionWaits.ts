import { Context } from "effect"

/**
 * The time one request's statements waited for a pooled connection, kept apart from the time they
 * ran: a read past its time limit that mostly waited met a busy server (retry later), one that mostly
 * ran is too heavy (narrow it). Waits of statements running at once are counted once.
 */
export class ConnectionWaits {
  private waiting = 0
  private since = 0
  private waited = 0

  started(now: number): void {
    if (this.waiting++ === 0) this.since = now
  }

  ended(now: number): void {
    if (--this.waiting === 0) this.waited += now - this.since
  }

  /** Milliseconds spent waiting up to `now`, a wait still under way included. */
  waitedMs(now: number): number {
    return this.waited + (this.waiting > 0 ? now - this.since : 0)
  }
}

/** Where `withConnection` counts its waits: the request's (the HTTP reads' time limit sets one), else nowhere. */
export const CurrentConnectionWaits = Context.Reference<ConnectionWaits | undefined>("k2/duckdb/ConnectionWaits", {
  defaultValue: () => undefined
})

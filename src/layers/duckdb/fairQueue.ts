/**
 * The line for the pooled DuckDB connections, by caller (ADR-100): a freed connection goes to the
 * caller with waiters that was served least recently (one never served, or not since it last held
 * none, first), its oldest waiter first. Among callers that keep waiting this is round robin; one
 * caller's waiters are first come, first served. With one caller (every program but serve) it is
 * the plain first come, first served line it replaced.
 *
 * Pure bookkeeping, no I/O and no effects: connectionTurns.ts hands the connections over.
 */

interface Caller<W> {
  readonly waiters: Array<W>
  /** Connections the caller holds. */
  holding: number
  /** The turn it was last served at (0: not yet). */
  servedAt: number
  /** When it joined, to order the callers not yet served. */
  readonly joined: number
}

export class FairQueue<W> {
  /** Callers that hold a connection or wait for one; forgotten when they do neither. */
  private readonly callers = new Map<string, Caller<W>>()
  private turns = 0
  private joins = 0
  private waiting = 0

  /** Waiters in the line, every caller's. */
  get size(): number {
    return this.waiting
  }

  private callerOf(owner: string): Caller<W> {
    let caller = this.callers.get(owner)
    if (caller === undefined) {
      caller = { waiters: [], holding: 0, servedAt: 0, joined: ++this.joins }
      this.callers.set(owner, caller)
    }
    return caller
  }

  private forgetIdle(owner: string, caller: Caller<W>): void {
    if (caller.holding === 0 && caller.waiters.length === 0) this.callers.delete(owner)
  }

  /** `owner` took a connection without waiting (one was free). */
  served(owner: string): void {
    const caller = this.callerOf(owner)
    caller.holding++
    caller.servedAt = ++this.turns
  }

  /** `owner` gave a connection back. */
  released(owner: string): void {
    const caller = this.callers.get(owner)
    if (caller === undefined) return
    caller.holding = Math.max(0, caller.holding - 1)
    this.forgetIdle(owner, caller)
  }

  /** `waiter` of `owner` waits, behind the owner's earlier waiters. */
  enqueue(owner: string, waiter: W): void {
    this.callerOf(owner).waiters.push(waiter)
    this.waiting++
  }

  /** Takes `waiter` out of the line (it gave up); false when it is not in it (it was already served). */
  remove(owner: string, waiter: W): boolean {
    const caller = this.callers.get(owner)
    const at = caller === undefined ? -1 : caller.waiters.indexOf(waiter)
    if (caller === undefined || at < 0) return false
    caller.waiters.splice(at, 1)
    this.waiting--
    this.forgetIdle(owner, caller)
    return true
  }

  /**
   * The waiter a freed connection goes to, taken out of the line and counted as holding it:
   * the oldest of the caller with waiters served least recently. Undefined when none waits.
   */
  next(): { readonly owner: string; readonly waiter: W } | undefined {
    let chosen: string | undefined
    let best: Caller<W> | undefined
    for (const [owner, caller] of this.callers) {
      if (caller.waiters.length === 0) continue
      if (
        best === undefined || caller.servedAt < best.servedAt ||
        (caller.servedAt === best.servedAt && caller.joined < best.joined)
      ) {
        chosen = owner
        best = caller
      }
    }
    if (chosen === undefined || best === undefined) return undefined
    const waiter = best.waiters.shift()!
    this.waiting--
    best.holding++
    best.servedAt = ++this.turns
    return { owner: chosen, waiter }
  }
}

/**
 * Fixed windows per principal, at most `capacity` of them. The map is kept in order of each
 * principal's last request (a hit moves it to the end), so the windows of past periods are at
 * its front and are dropped as new principals arrive. Past `capacity` principals in one window
 * (an IPv6 client can send each request from another address) the one heard from least
 * recently is forgotten and starts a new count if it returns. Memory stays bounded; the price:
 * a count is lost once `capacity` other principals have been heard from since its last request.
 * So the pipeline keeps keys apart from addresses (see `pipeline`).
 */
export class RateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>()
  private readonly limit: number
  private readonly windowMs: number
  private readonly capacity: number
  constructor(limit: number, windowSeconds: number, capacity = 100_000) {
    this.limit = limit
    this.windowMs = windowSeconds * 1000
    this.capacity = capacity
  }
  /** Windows held (for tests). */
  get size() {
    return this.windows.size
  }
  hit(key: string, now: number) {
    const start = now - (now % this.windowMs)
    let w = this.windows.get(key)
    if (w !== undefined) this.windows.delete(key)
    if (w === undefined || w.start !== start) {
      // Each entry is dropped once: amortized constant per request.
      for (const [k, v] of this.windows) {
        if (v.start === start && this.windows.size < this.capacity) break
        this.windows.delete(k)
      }
      w = { start, count: 0 }
    }
    this.windows.set(key, w)
    w.count++
    const reset = Math.max(1, Math.ceil((start + this.windowMs - now) / 1000))
    return { allowed: w.count <= this.limit, limit: this.limit, remaining: Math.max(0, this.limit - w.count), reset }
  }
}

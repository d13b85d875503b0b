/** A symbol's mid price: lognormal start, then geometric Brownian motion in session time. */
import type { Rng } from "./random.ts"
import type { SymbolState } from "./symbolState.ts"

const TRADING_SESSIONS_PER_YEAR = 252

/** A symbol's first mid: lognormal around 30, kept within [0.5, 300]. */
export const initialMid = (rng: Rng): number => Math.min(300, Math.max(0.5, Math.exp(Math.log(30) + 0.8 * rng.normal())))

/** Moves the symbol's mid to session time `t` of a session `sessionSeconds` long (σ a year). */
export const advanceMid = (st: SymbolState, t: number, sessionSeconds: number, sigma: number, rng: Rng): void => {
  // Advance the mid along GBM over the session time since the symbol's last quote.
  const dt = (t - st.lastT) / (sessionSeconds * TRADING_SESSIONS_PER_YEAR)
  if (dt > 0) st.mid *= Math.exp(-0.5 * sigma * sigma * dt + sigma * Math.sqrt(dt) * rng.normal())
  st.lastT = t
}

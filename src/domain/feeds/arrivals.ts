/**
 * The arrival process: one non-homogeneous Poisson process for the universe, thinned to the
 * U-shaped intensity λ(t) = Λ0 · (1 + a·x²), each arrival going to a symbol in proportion to
 * its activity weight.
 */
import type { Rng } from "./random.ts"
import type { SimulatorModel } from "./simulatorModel.ts"

/** A symbol's activity weight: lognormal, fixed by the seed. */
export const activityWeight = (rng: Rng): number => Math.exp(0.5 * rng.normal())

/** The running shares of the weights, the last exactly 1 (whatever the float sum gave). */
export const cumulativeShares = (weights: ReadonlyArray<number>): Float64Array => {
  const total = weights.reduce((a, b) => a + b, 0)
  const cumulative = new Float64Array(weights.length)
  let acc = 0
  weights.forEach((w, i) => {
    acc += w / total
    cumulative[i] = acc
  })
  cumulative[weights.length - 1] = 1
  return cumulative
}

/** The first index whose running share exceeds `u` (uniform in [0, 1)). */
export const pickIndex = (cumulative: Float64Array, u: number): number => {
  let lo = 0, hi = cumulative.length - 1
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (u < cumulative[mid]!) hi = mid
    else lo = mid + 1
  }
  return lo
}

/** λ's peak (at the open and the close) for a session of `T` seconds, Λ0 set so a symbol averages `eventsPerSymbolPerDay`. */
export const peakIntensity = (m: SimulatorModel, T: number): number => {
  const a = m.intensitySkew
  const base = (m.eventsPerSymbolPerDay * m.symbols.length) / (T * (1 + a / 3))
  return base * (1 + a)
}

/** Whether the thinning keeps a candidate at session time `t` (of `T`), `u` uniform: with probability λ(t) / λ's peak. */
export const keepsArrival = (u: number, t: number, T: number, a: number): boolean => {
  const x = (t - T / 2) / (T / 2)
  return u * (1 + a) <= 1 + a * x * x
}

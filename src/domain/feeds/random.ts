/**
 * A small seeded PRNG: xoshiro128** (Blackman & Vigna) seeded through murmur3's finaliser, with the
 * distributions the simulator needs. Deterministic across platforms: 32-bit integer
 * arithmetic only (Math.imul), no Math.random.
 */

/** murmur3's 32-bit finaliser: a bijection of 32-bit words with full avalanche. */
const fmix32 = (h: number): number => {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}

const TWO_32 = 4294967296

export class Rng {
  private a: number
  private b: number
  private c: number
  private d: number
  private spare = Number.NaN

  /** `seed` is any safe integer; `stream` (a 32-bit unsigned integer) picks an independent sequence for the same seed. */
  constructor(seed: number, stream = 0) {
    // The state is a bijection of (seed's high and low words, stream, a constant): distinct
    // (seed, stream) never share a sequence. Each step replaces one word by fmix32 of it xor
    // the word before (invertible given that word); two rounds carry every input into every word.
    const hi = Math.floor(seed / TWO_32)
    const s = [seed - hi * TWO_32, hi >>> 0, stream >>> 0, 0x9e3779b9]
    for (let i = 0; i < 8; i++) s[i & 3] = fmix32(s[i & 3]! ^ s[(i + 3) & 3]!)
    this.a = s[0]!
    this.b = s[1]!
    this.c = s[2]!
    this.d = s[3]!
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1
  }

  /** A uniform 32-bit unsigned integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0
    const t = this.b << 9
    this.c ^= this.a
    this.d ^= this.b
    this.b ^= this.c
    this.a ^= this.d
    this.c ^= t
    this.d = rotl(this.d, 11)
    return result
  }

  /** Uniform in [0, 1) with 53 random bits. */
  next(): number {
    const hi = this.nextU32() >>> 5 // 27 bits
    const lo = this.nextU32() >>> 6 // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n)
  }

  /** Standard normal (Box-Muller; the second variate is kept for the next call). */
  normal(): number {
    if (!Number.isNaN(this.spare)) {
      const s = this.spare
      this.spare = Number.NaN
      return s
    }
    const u = 1 - this.next() // (0, 1]
    const v = this.next()
    const r = Math.sqrt(-2 * Math.log(u))
    this.spare = r * Math.sin(2 * Math.PI * v)
    return r * Math.cos(2 * Math.PI * v)
  }

  /** Exponential waiting time with the given rate (mean 1/rate). */
  exponential(rate: number): number {
    return -Math.log(1 - this.next()) / rate
  }

  /** Failures before the first success, success probability p. */
  geometric(p: number): number {
    return p >= 1 ? 0 : Math.floor(Math.log(1 - this.next()) / Math.log(1 - p))
  }
}

const rotl = (x: number, k: number): number => (x << k) | (x >>> (32 - k))

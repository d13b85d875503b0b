/** A tick size as exact ticks: a price is a whole number of ticks, made a decimal without a float. */
import { BigDecimal } from "effect"

export class TickGrid {
  /** The tick as a float, for snapping the (float) mid to ticks. */
  readonly tick: number
  private readonly tickValue: bigint
  private readonly tickScale: number

  /** `tickSize` is decimal text, e.g. "0.01". */
  constructor(tickSize: string) {
    const dot = tickSize.indexOf(".")
    this.tickScale = dot === -1 ? 0 : tickSize.length - dot - 1
    this.tickValue = BigInt(tickSize.replace(".", ""))
    this.tick = Number(tickSize)
  }

  price(ticks: number): BigDecimal.BigDecimal {
    return BigDecimal.make(BigInt(ticks) * this.tickValue, this.tickScale)
  }
}

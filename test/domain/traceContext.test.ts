/** W3C traceparent: written as version 00, read per the spec's rules. */
import { assert, describe, it } from "@effect/vitest"
import { formatTraceparent, parseTraceparent } from "../../src/domain/traceContext.ts"

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
const SPAN = "00f067aa0ba902b7"

describe("traceContext", () => {
  it("formats version 00 and reads it back", () => {
    const value = formatTraceparent({ traceId: TRACE, spanId: SPAN, sampled: true })
    assert.strictEqual(value, `00-${TRACE}-${SPAN}-01`)
    assert.deepStrictEqual(parseTraceparent(value), { traceId: TRACE, spanId: SPAN, sampled: true })
    assert.strictEqual(formatTraceparent({ traceId: TRACE, spanId: SPAN, sampled: false }).slice(-2), "00")
    // A 64-bit (B3-style) trace id is left-padded to 128 bits.
    assert.strictEqual(formatTraceparent({ traceId: "a3ce929d0e0e4736", spanId: SPAN, sampled: true }), `00-0000000000000000a3ce929d0e0e4736-${SPAN}-01`)
  })

  it("reads the sampled flag from bit 0 and later versions by their first four fields", () => {
    assert.isFalse(parseTraceparent(`00-${TRACE}-${SPAN}-00`)!.sampled)
    assert.isTrue(parseTraceparent(`00-${TRACE}-${SPAN}-03`)!.sampled)
    // Another flag set without bit 0 (a future one, say) is not sampled.
    assert.isFalse(parseTraceparent(`00-${TRACE}-${SPAN}-02`)!.sampled)
    assert.deepStrictEqual(parseTraceparent(`01-${TRACE}-${SPAN}-01-future`), { traceId: TRACE, spanId: SPAN, sampled: true })
  })

  it("rejects what is not a traceparent", () => {
    for (
      const bad of [
        undefined,
        "",
        `00-${TRACE}-${SPAN}`,
        `00-${TRACE.toUpperCase()}-${SPAN}-01`,
        `00-${"0".repeat(32)}-${SPAN}-01`,
        `00-${TRACE}-${"0".repeat(16)}-01`,
        `ff-${TRACE}-${SPAN}-01`,
        `00-${TRACE}-${SPAN}-01-extra`,
        `00-${TRACE.slice(1)}-${SPAN}-01`
      ]
    ) assert.isUndefined(parseTraceparent(bad), String(bad))
  })
})

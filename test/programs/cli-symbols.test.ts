/**
 * The simulator's symbols as `produce` and the embedded `ingest` take them: `--symbols` (a list,
 * K2_SIM_SYMBOLS) or `--symbol-count` (synthetic symbols, K2_SIM_SYMBOL_COUNT), checked before
 * anything runs, the flag or variable at fault named.
 */
import { assert, describe, it } from "@effect/vitest"
import { Option } from "effect"
import { modelProblem } from "../../src/domain/feeds/modelProblem.ts"
import { DEFAULT_MODEL } from "../../src/domain/feeds/simulatorModel.ts"
import { DEFAULT_SYMBOLS, MAX_SYMBOLS, syntheticSymbols } from "../../src/domain/feeds/symbolUniverse.ts"
import { simulatedSymbols } from "../../src/programs/cli/symbols.ts"
import type { Sourced } from "../../src/programs/cli/flags.ts"

const none: Sourced<Option.Option<never>> = { value: Option.none(), given: false }
const flag = <A>(value: A): Sourced<Option.Option<A>> => ({ value: Option.some(value), given: true })
const env = <A>(value: A): Sourced<Option.Option<A>> => ({ value: Option.some(value), given: false })

const refusal = (symbols: Sourced<Option.Option<string>>, symbolCount: Sourced<Option.Option<number>> = none) => {
  try {
    simulatedSymbols({ symbols, symbolCount })
  } catch (e) {
    assert.strictEqual((e as { _tag?: string })._tag, "UsageError")
    return (e as Error).message
  }
  assert.fail("accepted")
}

describe("simulatedSymbols", () => {
  it("the simulator's default universe when neither is given", () => {
    assert.isUndefined(simulatedSymbols({ symbols: none, symbolCount: none }))
  })

  it("a list, blanks around each symbol dropped, in its order", () => {
    assert.deepStrictEqual(simulatedSymbols({ symbols: flag(" BHP, CBA ,XJO.1,A_B-C"), symbolCount: none }), ["BHP", "CBA", "XJO.1", "A_B-C"])
    assert.deepStrictEqual(simulatedSymbols({ symbols: env("AAA"), symbolCount: none }), ["AAA"])
  })

  it("a count of synthetic symbols, named in order and of one width", () => {
    assert.deepStrictEqual(simulatedSymbols({ symbols: none, symbolCount: flag(3) }), ["S0", "S1", "S2"])
    const many = simulatedSymbols({ symbols: none, symbolCount: env(50_000) })!
    assert.strictEqual(many.length, 50_000)
    assert.strictEqual(many[0], "S00000")
    assert.strictEqual(many[49_999], "S49999")
    assert.isUndefined(modelProblem({ ...DEFAULT_MODEL, symbols: syntheticSymbols(MAX_SYMBOLS) }))
  })

  it("refuses an empty list, an empty symbol, a bad character, a repeat and too many, naming the flag or its variable", () => {
    assert.include(refusal(flag(" , ")), "--symbols: no symbols")
    assert.include(refusal(flag("")), "--symbols: no symbols")
    assert.include(refusal(flag("BHP,,CBA")), "--symbols: an empty symbol")
    assert.include(refusal(flag("BHP,")), "--symbols: an empty symbol")
    assert.include(refusal(flag("BHP,bhp")), `--symbols: symbol "bhp" must be 1-32 upper-case letters`)
    assert.include(refusal(flag("BHP,C B")), `symbol "C B" must be`)
    assert.include(refusal(env("BHP,CBA,BHP")), `K2_SIM_SYMBOLS: symbol "BHP" is given twice`)
    const tooMany = syntheticSymbols(MAX_SYMBOLS + 1).join(",")
    assert.include(refusal(flag(tooMany)), `--symbols: ${MAX_SYMBOLS + 1} symbols, more than the ${MAX_SYMBOLS}`)
    // A message never repeats a whole list.
    assert.isBelow(refusal(flag(tooMany)).length, 300)
    assert.isBelow(refusal(flag(`${tooMany},${"X".repeat(100_000)}`)).length, 300)
  })

  it("one of the two: the command line's over the environment's, both at one level refused", () => {
    assert.deepStrictEqual(simulatedSymbols({ symbols: env("AAA"), symbolCount: flag(2) }), ["S0", "S1"])
    assert.deepStrictEqual(simulatedSymbols({ symbols: flag("AAA"), symbolCount: env(2) }), ["AAA"])
    assert.include(refusal(flag("AAA"), flag(2)), "give --symbols or --symbol-count, not both")
    assert.include(refusal(env("AAA"), env(2)), "K2_SIM_SYMBOLS and K2_SIM_SYMBOL_COUNT are both set")
  })

  it("the default list is the simulator's", () => {
    assert.deepStrictEqual(simulatedSymbols({ symbols: flag(DEFAULT_SYMBOLS.join(",")), symbolCount: none }), DEFAULT_SYMBOLS)
  })
})

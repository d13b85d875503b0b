/**
 * A refused setting's usage error shows the value, which for a catalog URL may hold a password
 * (`postgresql://user:secret@host/db`): the error goes to stderr and so to the logs.
 */
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Exit, Layer, Option } from "effect"
import { CliError, type Flag } from "effect/cli"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { lakehouseFlags } from "../../src/programs/cli/lakehouse.ts"

const parseWith = <A>(flag: Flag.Flag<A>, env: Record<string, string>, flags: Record<string, ReadonlyArray<string>> = {}) =>
  flag.parse({ arguments: [], flags }).pipe(
    Effect.map(([, value]) => value),
    Effect.provide(Layer.merge(NodeServices.layer, ConfigProvider.layer(ConfigProvider.fromEnvRecord(env)))),
    Effect.exit
  )

const refusal = (exit: Exit.Exit<unknown, unknown>) => {
  assert.isTrue(Exit.isFailure(exit), "accepted")
  const error = Exit.isFailure(exit) ? Option.getOrUndefined(Exit.findErrorOption(exit)) : undefined
  assert.isTrue(error instanceof CliError.InvalidValue, String(error))
  return (error as CliError.InvalidValue).message
}

describe("a refused URL setting", () => {
  it.effect("shows the URL without its password, from the variable or the flag", () =>
    Effect.gen(function*() {
      const url = "postgress://alice:s3cret@db:5432/k2"
      for (const exit of [yield* parseWith(lakehouseFlags.catalog, { K2_CATALOG: url }), yield* parseWith(lakehouseFlags.catalog, {}, { catalog: [url] })]) {
        const message = refusal(exit)
        assert.notInclude(message, "s3cret")
        assert.include(message, "postgress://alice:***@db:5432/k2")
      }
    }))

  it.effect("a value that is no URL is shown as given", () =>
    Effect.gen(function*() {
      const message = refusal(yield* parseWith(lakehouseFlags.catalog, { K2_CATALOG: "ftp://x/catalog" }))
      assert.include(message, `"ftp://x/catalog"`)
    }))
})

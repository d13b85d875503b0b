/** A program's flags parsed as the CLI parses them, from given variables and command-line values, for tests. */
import { assert } from "@effect/vitest"
import { ConfigProvider, Effect, Exit, Layer, Option } from "effect"
import { CliError, type Flag } from "effect/cli"
import * as NodeServices from "@effect/platform-node/NodeServices"

/** What `flag` makes of the environment `env` and the command-line values `flags`: its value, or how it refused. */
export const parseFlag = <A>(flag: Flag.Flag<A>, env: Record<string, string>, flags: Record<string, ReadonlyArray<string>> = {}) =>
  flag.parse({ arguments: [], flags }).pipe(
    Effect.map(([, value]) => value),
    Effect.provide(Layer.merge(NodeServices.layer, ConfigProvider.layer(ConfigProvider.fromEnvRecord(env)))),
    Effect.exit
  )

/** The usage error's message of a refused flag; fails the test if the flag was taken or failed otherwise. */
export const refusal = (exit: Exit.Exit<unknown, unknown>) => {
  assert.isTrue(Exit.isFailure(exit), "accepted")
  const error = Exit.isFailure(exit) ? Option.getOrUndefined(Exit.findErrorOption(exit)) : undefined
  assert.isTrue(error instanceof CliError.InvalidValue, String(error))
  return (error as CliError.InvalidValue).message
}

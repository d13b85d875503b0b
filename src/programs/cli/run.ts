/**
 * Runs a program's command on Node: failures print one clear line (`error: ...`) and exit 1;
 * defects print the whole cause; SIGINT/SIGTERM interrupt, the program drains and exits 0.
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Cause, Effect, Exit } from "effect"
import { Command } from "effect/cli"

export const runCommand = <Name extends string, I, E, R>(command: Command.Command<Name, I, E, R>) =>
  command.pipe(
    Command.run({ version: "0.1.0" }),
    Effect.tapCause((cause) =>
      Effect.sync(() => {
        if (Cause.hasInterruptsOnly(cause)) return
        const failure = cause.reasons.find((r) => r._tag === "Fail")
        const message = failure?._tag === "Fail" && failure.error instanceof Error
          ? `error: ${failure.error.message}`
          : Cause.pretty(cause)
        process.stderr.write(`${message}\n`)
      })
    ),
    Effect.provide(NodeServices.layer),
    (effect) =>
      NodeRuntime.runMain(effect as Effect.Effect<void, unknown>, {
        disableErrorReporting: true,
        // A signal asks for a drain; a program that drained cleanly succeeded.
        teardown: (exit, onExit) =>
          onExit(Exit.isSuccess(exit) || Cause.hasInterruptsOnly(exit.cause) ? 0 : 1)
      })
  )

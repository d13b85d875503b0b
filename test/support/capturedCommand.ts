/** A CLI command run in-process with its output captured (program tests over layers). */
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Console, Effect } from "effect"
import { vi } from "vitest"

/**
 * `run` (a command's `Command.runWith(...)(args)`) with NodeServices: how it ended, what it wrote on
 * stdout and on stderr. Rows and progress go to process.stdout/stderr directly, notes through Console.
 */
export const capturedCommand = <E>(run: Effect.Effect<void, E, NodeServices.NodeServices>) =>
  Effect.gen(function*() {
    const stdout: Array<string> = []
    const stderr: Array<string> = []
    const capture = (into: Array<string>) => (chunk: string | Uint8Array) => {
      into.push(String(chunk))
      return true
    }
    const spies = [
      vi.spyOn(process.stdout, "write").mockImplementation(capture(stdout)),
      vi.spyOn(process.stderr, "write").mockImplementation(capture(stderr))
    ]
    const console: Console.Console = Object.assign(Object.create(globalThis.console), {
      log: (text: unknown) => void stdout.push(`${String(text)}\n`),
      error: (text: unknown) => void stderr.push(`${String(text)}\n`)
    })
    const exit = yield* run.pipe(
      Effect.provide(NodeServices.layer),
      Effect.provideService(Console.Console, console),
      Effect.exit,
      Effect.ensuring(Effect.sync(() => spies.forEach((spy) => spy.mockRestore())))
    )
    return { exit, stdout: stdout.join(""), stderr: stderr.join("") }
  })

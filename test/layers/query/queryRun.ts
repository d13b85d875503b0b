/** `npm run query` run in-process over a given engine, its output captured (queryCommand and parity tests). */
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Console, Effect, type Layer } from "effect"
import { Command } from "effect/cli"
import { vi } from "vitest"
import { queryCommand } from "../../../src/programs/query.ts"
import type { Catalog } from "../../../src/services/Catalog.ts"
import type { QueryEngine } from "../../../src/services/QueryEngine.ts"

/**
 * `npm run query -- args` over `reads` (a layer, or the program's own `engine`): how it ended, what
 * it printed on stdout and what it said on stderr.
 */
export const runQuery = (
  reads: Layer.Layer<QueryEngine | Catalog, unknown> | Parameters<typeof queryCommand<unknown>>[0],
  args: ReadonlyArray<string>
) =>
  Effect.gen(function*() {
    const stdout: Array<string> = []
    const stderr: Array<string> = []
    const capture = (into: Array<string>) => (chunk: string | Uint8Array) => {
      into.push(String(chunk))
      return true
    }
    // Rows go to process.stdout and the scan report to process.stderr (cli/common.ts printRows); notes through Console.
    const spies = [
      vi.spyOn(process.stdout, "write").mockImplementation(capture(stdout)),
      vi.spyOn(process.stderr, "write").mockImplementation(capture(stderr))
    ]
    const console: Console.Console = Object.assign(Object.create(globalThis.console), {
      log: (text: unknown) => void stdout.push(`${String(text)}\n`),
      error: (text: unknown) => void stderr.push(`${String(text)}\n`)
    })
    const exit = yield* Command.runWith(queryCommand(typeof reads === "function" ? reads : () => reads), { version: "0" })(args).pipe(
      Effect.provide(NodeServices.layer),
      Effect.provideService(Console.Console, console),
      Effect.exit,
      Effect.ensuring(Effect.sync(() => spies.forEach((spy) => spy.mockRestore())))
    )
    return { exit, stdout: stdout.join(""), stderr: stderr.join("") }
  })

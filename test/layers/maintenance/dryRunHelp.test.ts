/**
 * What `npm run compact -- --dry-run` says it lists, in-process: the files orphaned now. A real run
 * also removes the files its own compaction and expiry free, which a dry run (neither compacts nor
 * expires) cannot list; its help and its first line say so, so its list is not taken for all a run removes.
 */
import * as NodeServices from "@effect/platform-node/NodeServices"
import { assert, describe, it } from "@effect/vitest"
import { Console, Effect } from "effect"
import { Command } from "effect/cli"
import { compactCommand } from "../../../src/programs/compact.ts"

const helpText = Effect.gen(function*() {
  const out: Array<string> = []
  const console: Console.Console = Object.assign(Object.create(globalThis.console), {
    log: (...text: ReadonlyArray<unknown>) => void out.push(text.map(String).join(" ")),
    error: (...text: ReadonlyArray<unknown>) => void out.push(text.map(String).join(" "))
  })
  yield* Command.runWith(compactCommand, { version: "0" })(["--help"]).pipe(
    Effect.provide(NodeServices.layer),
    Effect.provideService(Console.Console, console),
    Effect.exit
  )
  // Help wraps long descriptions: compare words, not lines.
  return out.join("\n").replace(/\s+/g, " ")
})

describe("npm run compact --dry-run", () => {
  it.effect("its help says the list leaves out the files a real run's compaction and expiry would free", () =>
    Effect.gen(function*() {
      const help = yield* helpText
      assert.include(help, "--dry-run")
      assert.include(help, "files orphaned now")
      assert.include(help, "a real run also removes the files its compaction and expiry free")
    }))
})

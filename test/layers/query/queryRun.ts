/** `npm run query` run in-process over a given engine, its output captured (queryCommand and parity tests). */
import type { Layer } from "effect"
import { Command } from "effect/cli"
import { queryCommand } from "../../../src/programs/query.ts"
import type { Catalog } from "../../../src/services/Catalog.ts"
import type { QueryEngine } from "../../../src/services/QueryEngine.ts"
import { capturedCommand } from "../../support/capturedCommand.ts"

/**
 * `npm run query -- args` over `reads` (a layer, or the program's own `engine`): how it ended, what
 * it printed on stdout and what it said on stderr.
 */
export const runQuery = (
  reads: Layer.Layer<QueryEngine | Catalog, unknown> | Parameters<typeof queryCommand<unknown>>[0],
  args: ReadonlyArray<string>
) =>
  capturedCommand(
    Command.runWith(queryCommand(typeof reads === "function" ? reads : () => reads), { version: "0" })(args)
  )

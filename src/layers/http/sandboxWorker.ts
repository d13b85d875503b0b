/**
 * The process a SQL sandbox run happens in (sandboxPool.ts `runSandboxed`), started with a data-size limit
 * (and a file-size limit, its argument): DuckDB's `memory_limit` does not hold the values an
 * expression makes (strings, lists), nor does its interrupt stop an expression before it has filled
 * its chunk of rows, so only a process of its own can be held to a memory size and ended at the time limit.
 *
 * Messages: "ready" once loaded; then for each `{ run: options }` "running", then one `{ done: SqlResult }` or
 * `{ failed: { _tag, detail?, ms? } }`. It ends with its parent (the IPC channel closing).
 */
import { Effect } from "effect"
import { sandboxLimits } from "./sandboxPool.ts"
import { runInThisProcess } from "./sandboxRun.ts"

// The file-size limit it was started under (`ulimit -f`), which a failure past it names.
sandboxLimits.fileBytes = Number(process.argv[2] ?? sandboxLimits.fileBytes)

const send = (message: unknown) => new Promise<void>((resolve) => process.send!(message, undefined, {}, () => resolve()))

process.on("disconnect", () => process.exit(0))
process.on("message", (message: { run?: Parameters<typeof runInThisProcess>[0] }) => {
  if (message.run === undefined) return
  // The run is taken: from here on, this worker's end is the run's (not a worker dead before it).
  void send("running")
  void Effect.runPromise(Effect.result(runInThisProcess(message.run))).then(
    (r) => send(r._tag === "Success" ? { done: r.success } : { failed: { ...r.failure, _tag: r.failure._tag } }),
    // Not its message: it could name a path.
    () => send({ failed: { _tag: "SqlFailed", detail: "the sandbox failed unexpectedly" } })
  )
})
void send("ready")

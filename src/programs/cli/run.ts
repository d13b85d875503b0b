/**
 * Runs a program's command on Node: a bad option prints the help and the problem and exits 2;
 * failures print one clear line (`error: ...`) and exit 1;
 * defects print the whole cause; SIGINT/SIGTERM interrupt, the program drains and exits 0, or 1
 * when the drain itself failed (a replay of a range, a query's answer, a single compact run or a produce stopped before it sent anything cut short fails so); a second signal exits at once with 130,
 * as does a `--wizard` cancelled before its command runs.
 * A reader that closed stdout ends the program with 0, another stdout write error with 1; a stderr
 * that fails is done without.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Cause, Config, Context, Effect, Exit, Layer, Option, Queue, Terminal } from "effect"
import { CliError, Command, GlobalFlag, type Param } from "effect/cli"
import { InvalidQuery } from "../../domain/query/errors.ts"
import { K2_VERSION } from "../../domain/version.ts"
import { InvalidServerConfig } from "../../layers/http/config.ts"
import { UsageError } from "./common.ts"

/**
 * Where a run keeps the failure of its drain, which comes beside the interruption that asked for
 * it: error handlers met after an interruption (the CLI's among them) pass on only the
 * interruption. One record a run (`runCommand` provides it; tests running commands in-process,
 * their own), so that runs sharing a process do not see each other's.
 */
export interface DrainRecord {
  failure: Option.Option<unknown>
}
export const DrainRecord = Context.Reference<DrainRecord>("k2/cli/DrainRecord", { defaultValue: () => ({ failure: Option.none() }) })

/** A record for one run. */
export const drainRecord = (): DrainRecord => ({ failure: Option.none() })

/** Makes a failure of `effect` while it drains on a signal the program's failure: exit 1. */
export const failsTheDrain = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.onError(effect, (cause) =>
    Effect.gen(function*() {
      const record = yield* DrainRecord
      if (Cause.hasInterrupts(cause) && Option.isNone(record.failure)) record.failure = Cause.findErrorOption(cause)
    }))

/**
 * Fails `effect` beside the interruption when a signal stops it, with `stopped()`: the program
 * says so and exits 1 (see `failsTheDrain`). For a program whose output a signal can cut short (a
 * replay of a range, a query's answer): it ended as a whole one did, exit 0 without a word, and a
 * script took the cut output for the whole.
 */
export const failsWhenStopped = <E2>(stopped: () => E2) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | E2, R> =>
  failsTheDrain(Effect.onInterrupt(effect, () => Effect.suspend(() => Effect.fail(stopped()))))

/**
 * `layer` (the catalog and DuckDB a command reads), opened before the command's own `failsWhenStopped`
 * starts: stopped by a signal while it opens, the run fails with `stopped()` too, not exit 0 without a word.
 */
export const openedUnlessStopped = <E2>(stopped: () => E2) => <A, E>(layer: Layer.Layer<A, E>): Layer.Layer<A, E | E2> =>
  Layer.effectContext(Layer.build(layer).pipe(failsWhenStopped(stopped)))

/** A setting read from the environment (beyond the flags) that is not valid: a usage error too. */
const isConfigError = (error: unknown): error is Config.ConfigError => error instanceof Config.ConfigError

/** A bad setting, whether its parse refuses it or serve's check of K2_API_* does (a rate limit of 0, K2_API_AUTH=maybe). */
const isBadSetting = (error: unknown): boolean => isConfigError(error) || error instanceof InvalidServerConfig

/** A usage error: a bad option the flags' own checks let through, or settings that do not fit the warehouse given. */
const isUsageError = (error: unknown): error is UsageError => error instanceof UsageError

/** A request the query or replay engine refused before any I/O (from after to, a bad symbol...): the user's input. */
const isRefusedRequest = (error: unknown): boolean => error instanceof InvalidQuery && error.reason._tag !== "TooManyRows"

/** The error a program failed with, if it failed with one (not a defect or an interruption). */
const errorOf = (cause: Cause.Cause<unknown>): unknown => Option.getOrUndefined(Cause.findErrorOption(cause))

/** 0 for success, a drained interruption, or plain `--help`; 2 for a bad option, setting or request; 1 otherwise. */
const exitCode = (exit: Exit.Exit<unknown, unknown>): number => {
  if (Exit.isSuccess(exit) || Cause.hasInterruptsOnly(exit.cause)) return 0
  const error = errorOf(exit.cause)
  if (CliError.isCliError(error) && error._tag === "ShowHelp") return error.errors.length === 0 ? 0 : 2
  return isBadSetting(error) || isUsageError(error) || isRefusedRequest(error) ? 2 : 1
}

/** The failure of the drain of a run stopped by a signal (see `failsTheDrain`), if it failed. */
export const failedDrainOf = (exit: Exit.Exit<unknown, unknown>, record: DrainRecord): Option.Option<unknown> =>
  Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause) ? record.failure : Option.none()

/** The code a run ends with: `exitCode`, or 1 when it was stopped by a signal and its drain failed. */
export const programExitCode = (exit: Exit.Exit<unknown, unknown>, record: DrainRecord): number =>
  Option.isSome(failedDrainOf(exit, record)) ? 1 : exitCode(exit)

/** One line for a failure, the whole cause for a defect. */
const report = (cause: Cause.Cause<unknown>): void => {
  if (Cause.hasInterruptsOnly(cause)) return
  const error = errorOf(cause)
  // The CLI has already shown usage errors with the help text.
  if (CliError.isCliError(error)) return
  const message = isConfigError(error)
    ? `error: invalid setting: ${error.cause.message.replace(/\s+/g, " ")}`
    : isUsageError(error)
    ? error.message
    : error instanceof Error
    ? `error: ${error.message}`
    : Cause.pretty(cause)
  process.stderr.write(`${message}\n`)
}

/**
 * A second SIGINT or SIGTERM while the first one's drain runs (a catalog that does not answer, a
 * user who will not wait) ends the process at once with 130, as Ctrl-C twice does elsewhere. It
 * is as safe as kill -9: the tables' markers, not the process, say what was ingested.
 */
export const exitOnSecondSignal = (
  signals: NodeJS.EventEmitter,
  exit: (code: number) => void,
  afterwards?: string,
  npm: { readonly running: boolean; readonly now: () => number } = { running: false, now: () => performance.now() }
) => {
  let first: { readonly signal: string; readonly at: number } | undefined = undefined
  const onSignal = (signal: string) => {
    if (first === undefined) {
      first = { signal, at: npm.now() }
      return
    }
    // Under `npm run` a signal sent to the process group (Ctrl-C, `timeout`) comes twice: from the
    // sender and passed on by npm, whose child the program is (the scripts `exec` it). That copy,
    // the same signal right after the first, is the same request: it ended the drain at once.
    if (npm.running && signal === first.signal && npm.now() - first.at < NPM_COPY_MS) return
    process.stderr.write(`second signal: stopping without finishing${afterwards === undefined ? "" : `; ${afterwards}`}\n`)
    exit(130)
  }
  signals.on("SIGINT", () => onSignal("SIGINT"))
  signals.on("SIGTERM", () => onSignal("SIGTERM"))
}

/** How soon after a signal npm's copy of it arrives, at most (npm passes it on as it gets it). */
const NPM_COPY_MS = 1000

/**
 * Ends the process when stdout fails. A reader that closed it (`| head`) wants no more: stop
 * quietly, exit 0, as a SIGPIPE'd tool does. Any other write error (a full disk, a descriptor
 * opened read-only) loses output: say so in one line, exit 1. Rethrown, it ended in an
 * uncaught-exception stack trace.
 */
const stdoutFailed = (e: NodeJS.ErrnoException, exit: (code: number) => void) => {
  if (e.code === "EPIPE") return exit(0)
  try {
    process.stderr.write(`error: cannot write to stdout: ${e.message}\n`)
  } catch {
    // stderr may be as broken; the exit code still says it.
  }
  exit(1)
}

/**
 * Calls `then` once what `out` holds has gone to its reader. After a signal or a failure the
 * runtime exits at once (`process.exit`), and a pipe's writes are asynchronous: a replay stopped
 * while its reader lagged lost its last batch, the reader getting a cut line, while the stop
 * counted every event of it as written (the event it named to resume from was never received).
 * A reader that never takes it is what a second signal is for (exit 130).
 */
export const afterWritten = (out: NodeJS.WritableStream & { readonly destroyed?: boolean; readonly writableLength?: number }, then: () => void) => {
  if (out.destroyed === true || (out.writableLength ?? 0) === 0) return then()
  // Written after everything before it: its callback comes once they are out (or the stream failed).
  out.write("", () => then())
}

/**
 * A stderr that cannot be written (its reader gone: `2>&1 | head -1`, a log pipe closed) loses
 * logs and progress, not results: the program goes on, its answer on stdout and its exit code
 * saying how its work went. Unhandled, the error was an uncaught exception: exit 1 in the middle of
 * an ingest, or of a query whose answer had been written whole.
 */
const stderrFailed = (_: Error) => {}

/**
 * `terminal`, calling `ended` when the input of a prompt ends before it is answered: stdin closed
 * (`</dev/null`), or a quit key (Ctrl-C, Ctrl-D, Esc). effect/cli's `--wizard` then prints "Wizard
 * cancelled." and succeeds: a run that ran nothing exited 0, as one that ran.
 */
const noticingInputEnd = (terminal: Terminal.Terminal, ended: () => void): Terminal.Terminal =>
  Terminal.make({
    columns: terminal.columns,
    rows: terminal.rows,
    size: terminal.size,
    readLine: terminal.readLine,
    display: terminal.display,
    readInput: Effect.gen(function*() {
      const input = yield* terminal.readInput
      const relayed = yield* Queue.unbounded<Terminal.UserInput, Cause.Done>()
      // Interrupted with the prompt's scope when it is answered: only an input that ended first is noticed.
      yield* Queue.take(input).pipe(
        Effect.flatMap((key) => Queue.offer(relayed, key)),
        Effect.forever,
        Effect.catchIf(Cause.isDone, () => Effect.andThen(Effect.sync(ended), Queue.end(relayed))),
        Effect.forkScoped
      )
      return relayed
    })
  })

/** The code a run exits with when its wizard was cancelled: as a prompt cancelled by Ctrl-C. */
const WIZARD_CANCELLED_EXIT = 130

/** What effect/cli lexes as a negative number, a value rather than flags (`--seed -5`, `--from -1`). */
const NEGATIVE_NUMBER = /^-(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/

/**
 * The first cluster of short flags on the command line (`-ocsv`, `-xv`), said as a usage error;
 * undefined when there is none. effect/cli reads each letter of one as a flag of its own (`-o -c
 * -s -v`) and takes a `v` or `h` among them before it looks at the rest: `query trades ... -ocsv`
 * (getopt's `-o csv`) printed "query v0.1.0" and exited 0, no query run and no error, as did a
 * mistyped `-xv`. No K2 flag combines with another or takes its value attached, so none is meant.
 * Arguments after `--` are operands, not flags.
 */
export const shortFlagCluster = (args: ReadonlyArray<string>): string | undefined => {
  const end = args.indexOf("--")
  for (const arg of end === -1 ? args : args.slice(0, end)) {
    if (!arg.startsWith("-") || arg.startsWith("--") || NEGATIVE_NUMBER.test(arg)) continue
    // As effect/cli lexes `-o=csv`: the letters before `=` are the flags.
    const letters = [...arg.slice(1).split("=")[0]!]
    if (letters.length <= 1) continue
    const attached = arg.slice(2)
    return `${arg}: one flag per dash (short flags do not combine, nor take a value attached): ` +
      `write -${letters[0]} ${attached.startsWith("=") ? attached.slice(1) : attached}, or -${letters.join(" -")}`
  }
  return undefined
}

// The edge of the program: whatever the command needs is provided here, so types are loose.
type AnyCommand = Command.Command<any, any, any, any, any>

/** A command's own flags, as `Command.make` (its `config`) and `withSharedFlags` (its `contextConfig`) keep them. */
interface CommandFlags {
  readonly config?: { readonly flags: ReadonlyArray<Param.Any> }
  readonly contextConfig?: { readonly flags: ReadonlyArray<Param.Any> }
}

type AnyParam = Param.Single<any, unknown> | Param.Map<any, any, unknown> | Param.Transform<any, any, unknown> | Param.Optional<any, unknown> | Param.Variadic<any, unknown>

/** The single flags `param` is made of (through its mapping, checks, defaults, alternatives). */
const singlesOf = (param: Param.Any): ReadonlyArray<Param.Single<any, unknown>> => {
  const p = param as AnyParam
  switch (p._tag) {
    case "Single":
      return [p]
    case "Transform":
      return [...singlesOf(p.param), ...p.alternatives.flatMap((alternative) => singlesOf(alternative()))]
    default:
      return singlesOf(p.param)
  }
}

/** The names (long, and each alias) of `params`' flags, each with whether it takes a value; `--no-x` of a boolean `x` too. */
const flagNames = (params: ReadonlyArray<Param.Any>, into: Map<string, boolean>) => {
  for (const param of params) {
    for (const single of singlesOf(param)) {
      const boolean = single.primitiveType._tag === "Boolean"
      const takesValue = !boolean && single.optionalValue === undefined
      for (const name of [single.name, ...single.aliases]) into.set(name, takesValue)
      if (boolean && single.negation !== false) into.set(single.negation ?? `no-${single.name}`, false)
    }
  }
}

/** The flags a command reads itself (its subcommands' aside). */
const ownFlags = (command: AnyCommand): ReadonlyArray<Param.Any> => {
  const flags = command as unknown as CommandFlags
  return [...(flags.config?.flags ?? []), ...(flags.contextConfig?.flags ?? [])]
}

/**
 * `args` with each value that begins with "-" attached to its flag (`--symbols -X` as
 * `--symbols=-X`). effect/cli's lexer does not know which flags take a value: it read such a
 * value as flags, refused as unknown, or `-v`/`-h` printing the version or the help and exiting
 * 0, nothing run (`--symbols -v`, `--fields -h`). A flag that takes one (from `command`'s own
 * definitions, the built-in `--log-level` and `--completions` among them) followed by a token
 * beginning with "-" takes it, unless the token is one of the program's long flags (`--symbols
 * --help` still asks for the help, `--from --to` still misses a value): single-letter
 * flags cannot follow one so. Arguments after `--` are operands, left as they are.
 */
export const attachDashValues = (command: AnyCommand, args: ReadonlyArray<string>): ReadonlyArray<string> => {
  const known = new Map<string, boolean>()
  flagNames(GlobalFlag.BuiltIns.map((global) => global.flag), known)
  let current = command
  flagNames(ownFlags(current), known)
  const end = args.indexOf("--")
  const out: Array<string> = []
  for (let i = 0; i < (end === -1 ? args.length : end); i++) {
    const arg = args[i]!
    const name = arg.startsWith("--") ? arg.slice(2) : arg.startsWith("-") && arg.length === 2 ? arg.slice(1) : undefined
    if (name !== undefined && known.get(name) === true) {
      const next = args[i + 1]
      if (next === undefined || i + 1 === end) {
        out.push(arg)
      } else if (next.startsWith("-") && !(next.startsWith("--") && known.has(next.slice(2).split("=")[0]!))) {
        out.push(`${arg}=${next}`)
        i++
      } else {
        // Its value, whatever it is (a subcommand's name among them), or the long flag that is there instead.
        out.push(arg)
        if (!next.startsWith("-")) out.push(args[++i]!)
      }
      continue
    }
    out.push(arg)
    // A subcommand's name (where no value is due) goes on to its own flags, as the parser does.
    const sub = arg.startsWith("-") ? undefined : current.subcommands.flatMap((group) => group.commands).find((c) => c.name === arg || c.alias === arg)
    if (sub !== undefined) {
      current = sub
      flagNames(ownFlags(current), known)
    }
  }
  return end === -1 ? out : [...out, ...args.slice(end)]
}

/**
 * Runs `command` on `args` as `runCommand` does (`args` without the node and script paths):
 * values beginning with "-" attached to their flags (`attachDashValues`), a cluster of short
 * flags refused (`shortFlagCluster`).
 */
export const runWithArgs = (command: AnyCommand, args: ReadonlyArray<string>) => {
  const attached = attachDashValues(command, args)
  const cluster = shortFlagCluster(attached)
  return cluster === undefined ? Command.runWith(command, { version: K2_VERSION })(attached) : Effect.fail(new UsageError({ message: cluster }))
}

/**
 * Services a command needs are provided to its handler (`Command.provide`), so `--help` builds none.
 * `afterSecondSignal`: what becomes of unfinished work when a second signal ends the run at once.
 */
export const runCommand = (command: AnyCommand, options: { readonly afterSecondSignal?: string } = {}) => {
  process.stdout.on("error", (e: NodeJS.ErrnoException) => stdoutFailed(e, (code) => process.exit(code)))
  process.stderr.on("error", stderrFailed)
  exitOnSecondSignal(process, (code) => process.exit(code), options.afterSecondSignal, {
    running: process.env["npm_lifecycle_event"] !== undefined,
    now: () => performance.now()
  })
  const record = drainRecord()
  let wizardCancelled = false
  return runWithArgs(command, process.argv.slice(2)).pipe(
    Effect.onError((cause) => Effect.sync(() => report(cause))),
    Effect.updateService(Terminal.Terminal, (terminal) => noticingInputEnd(terminal, () => void (wizardCancelled = true))),
    Effect.provide(NodeServices.layer),
    Effect.provideService(DrainRecord, record),
    (effect) =>
      NodeRuntime.runMain(effect as Effect.Effect<void, unknown>, {
        disableErrorReporting: true,
        // A signal asks for a drain; a program that drained cleanly succeeded.
        teardown: (exit, onExit) => {
          if (wizardCancelled && Exit.isSuccess(exit)) {
            process.stderr.write("wizard cancelled: nothing was run\n")
            return onExit(WIZARD_CANCELLED_EXIT)
          }
          const failed = failedDrainOf(exit, record)
          if (Option.isSome(failed)) report(Cause.fail(failed.value))
          const code = programExitCode(exit, record)
          afterWritten(process.stdout, () => onExit(code))
        }
      })
  )
}

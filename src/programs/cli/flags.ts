/** How the programs declare their flags: environment fallbacks and defaults shown in --help, ranges checked. */
import { Config, ConfigProvider, Effect, Exit, Option } from "effect"
import { Flag } from "effect/cli"
import { withoutCredentials } from "../../domain/urlCredentials.ts"
import { integer, INTEGER_FORM, integerOf } from "../../layers/settings.ts"

/** What a flag's value must be: the expectation a value fails, or undefined when it passes. */
export type Check<A> = (value: A) => string | undefined

/** A flag that refuses the values `check` fails, saying what it expected. */
export const checked = <A>(check: Check<A>) => Flag.filter((value: A) => check(value) === undefined, (value) => check(value) ?? "")

/** Where a flag's value comes from when it is not given: an environment variable, read as the flag reads. */
interface FromEnv<A> {
  readonly env: string
  readonly read: (name: string) => Config.Config<A>
  /** Applied to the flag's value and to the variable's alike; a refused variable is named. */
  readonly check?: Check<A>
}

/** A flag's variable as given, parsed only once it is known to be needed, so that a refusal can show it. */
class EnvValue {
  readonly raw: string
  constructor(raw: string) {
    this.raw = raw
  }
  // The CLI shows a refused value as String(value): the variable's text, a URL's password hidden
  // (the error goes to stderr, so to the logs, and a catalog URL may hold one).
  toString() {
    return withoutCredentials(this.raw)
  }
}

/** A flag's value from the command line, shown as `EnvValue` is. */
class FlagValue<A> {
  readonly value: A
  constructor(value: A) {
    this.value = value
  }
  toString() {
    return withoutCredentials(String(this.value))
  }
}

/**
 * `envSetting`, its value told apart by where it came from: `fromFlag` for the command line's,
 * `fromEnv` for the variable's.
 */
const fromEnvOr = <A, B>(
  env: string,
  read: (name: string) => Config.Config<A>,
  check: Check<A>,
  fromFlag: (value: A) => B,
  fromEnv: (value: A) => B
) =>
(flag: Flag.Flag<A>): Flag.Flag<B> => {
  const parse = (raw: string) => Effect.runSyncExit(read(env).parse(ConfigProvider.fromEnvRecord({ [env]: raw })))
  const refusal = (raw: string) => {
    const exit = parse(raw)
    // The schema's first line ("Expected an integer"), without its path or wrapper.
    const said = Exit.isSuccess(exit)
      ? check(exit.value) ?? "a valid value"
      : Option.match(Exit.findErrorOption(exit), { onNone: () => "a valid value", onSome: (e) => e.cause.message.split("\n")[0]!.trim() })
    return `${said.startsWith("Expected") ? said : `Expected: ${said}`} (from ${env})`
  }
  return flag.pipe(
    Flag.map((value: A) => new FlagValue(value)),
    Flag.withFallbackConfig(Config.map(Config.String(env), (raw) => new EnvValue(raw))),
    Flag.filterMap(
      (value: FlagValue<A> | EnvValue): Option.Option<B> => {
        if (value instanceof FlagValue) return check(value.value) === undefined ? Option.some(fromFlag(value.value)) : Option.none()
        const exit = parse(value.raw)
        return Exit.isSuccess(exit) && check(exit.value) === undefined ? Option.some(fromEnv(exit.value)) : Option.none()
      },
      (value) => value instanceof EnvValue ? refusal(value.raw) : check(value.value) ?? ""
    )
  )
}

/**
 * Falls back to the environment variable `env` when the flag is not given, read as `read` reads
 * it. A value it refuses, or `check` fails, is the flag's usage error, naming the variable and
 * showing the value: `Flag.withFallbackConfig` alone showed `"config"` and an Effect SchemaError,
 * and a check applied after it cannot tell the variable's value from the flag's.
 */
export const envSetting = <A>(env: string, read: (name: string) => Config.Config<A>, check: Check<A> = () => undefined) =>
  fromEnvOr(env, read, check, (value: A) => value, (value) => value)

/** A flag's description with its variable and default. */
const describedSetting = <A>(flag: Flag.Flag<A>, about: string, from: Partial<FromEnv<A>> & { readonly fallback: A }) => {
  const env = from.env === undefined ? "" : `env ${from.env}; `
  // An empty default is named: "default )" reads as a slip.
  return Flag.withDescription(flag, `${about} (${env}${rangeNote(from.check)}default ${from.fallback === "" ? "none" : String(from.fallback)})`)
}

/**
 * What a flag does, the environment variable it falls back to (if any), its check and its
 * default, given once: the flag uses them and `--help` shows them.
 */
export const setting = <A>(
  about: string,
  from: Partial<FromEnv<A>> & { readonly fallback: A }
) =>
(flag: Flag.Flag<A>): Flag.Flag<A> => Flag.withDefault(settingRead(flag, about, from), from.fallback)

/** A setting's flag described, its variable read and its check applied, before its default. */
const settingRead = <A>(flag: Flag.Flag<A>, about: string, from: Partial<FromEnv<A>> & { readonly fallback: A }): Flag.Flag<A> => {
  const described = describedSetting(flag, about, from)
  return from.env !== undefined && from.read !== undefined
    ? envSetting(from.env, from.read, from.check)(described)
    : from.check === undefined
    ? described
    : checked(from.check)(described)
}

/** A setting's value, and whether it is its default (neither the command line nor its variable gave it). */
export interface Defaulted<A> {
  readonly value: A
  readonly byDefault: boolean
}

/**
 * As `setting`, the value saying whether it is the default: a program may treat a value the
 * operator asked for (on the command line or in the variable) more strictly than K2's default.
 */
export const defaultedSetting = <A>(about: string, from: Partial<FromEnv<A>> & { readonly fallback: A }) =>
(flag: Flag.Flag<A>): Flag.Flag<Defaulted<A>> =>
  Flag.withDefault(Flag.map(settingRead(flag, about, from), (value): Defaulted<A> => ({ value, byDefault: false })), { value: from.fallback, byDefault: true })

/**
 * As `setting` without a variable, for a flag only some modes read: its default is shown but left
 * to the mode that reads it, so a mode that ignores the flag can tell it was given and refuse it.
 */
export const modeSetting = <A>(about: string, from: { readonly fallback: A; readonly check?: Check<A> }) =>
(flag: Flag.Flag<A>): Flag.Flag<Option.Option<A>> => {
  const described = Flag.withDescription(flag, `${about} (${rangeNote(from.check)}default ${String(from.fallback)})`)
  return Flag.optional(from.check === undefined ? described : checked(from.check)(described))
}

/**
 * A setting's value, and whether it was given on the command line (rather than taken from its
 * variable or its default).
 */
export interface Sourced<A> {
  readonly value: A
  readonly given: boolean
}

/**
 * As `setting`, for a flag only some modes read that has a variable too: the value says whether
 * the command line gave it, so that a mode that ignores the flag can refuse it given. Its variable
 * is read and checked as `setting` reads it but not refused: a deployment sets it for every mode.
 */
export const sourcedSetting = <A>(about: string, from: Partial<FromEnv<A>> & { readonly fallback: A }) =>
(flag: Flag.Flag<A>): Flag.Flag<Sourced<A>> => {
  const described = describedSetting(flag, about, from)
  const given = (value: A): Sourced<A> => ({ value, given: true })
  const read = from.env !== undefined && from.read !== undefined
    ? fromEnvOr(from.env, from.read, from.check ?? (() => undefined), given, (value): Sourced<A> => ({ value, given: false }))(described)
    : Flag.map(from.check === undefined ? described : checked(from.check)(described), given)
  return Flag.withDefault(read, { value: from.fallback, given: false })
}

/** A flag with no default: its description names its variable. */
const describedOptional = <A>(flag: Flag.Flag<A>, about: string, env: string, check?: Check<A>) =>
  Flag.withDescription(flag, `${about} (env ${env}${rangeShown(check) === undefined ? "" : `; ${rangeShown(check)}`})`)

/** As `sourcedSetting`, for a flag that may be absent. */
export const optionalSourcedSetting = <A>(about: string, from: FromEnv<A>) => (flag: Flag.Flag<A>): Flag.Flag<Sourced<Option.Option<A>>> =>
  Flag.optional(describedOptional(flag, about, from.env, from.check).pipe(
    fromEnvOr(from.env, from.read, from.check ?? (() => undefined), (value) => ({ value, given: true }), (value) => ({ value, given: false }))
  )).pipe(Flag.map((v): Sourced<Option.Option<A>> =>
    Option.match(v, {
      onNone: () => ({ value: Option.none(), given: false }),
      onSome: (s) => ({ value: Option.some(s.value), given: s.given })
    })
  ))

/** As `setting`, for a flag that may be absent. */
export const optionalSetting = <A>(about: string, from: FromEnv<A>) => (flag: Flag.Flag<A>): Flag.Flag<Option.Option<A>> =>
  Flag.optional(envSetting(from.env, from.read, from.check)(describedOptional(flag, about, from.env, from.check)))

/** The flags of `flags` given (name, whether given), as `--help` names them: those a mode would ignore. */
export const givenFlags = (flags: ReadonlyArray<readonly [string, boolean]>): ReadonlyArray<string> =>
  flags.filter(([, given]) => given).map(([name]) => `--${name}`)

/**
 * An integer flag, its value read as its variable's (`integerRead`) and every integer setting's
 * (`integerOf`): Effect's `Flag.Int` took `1e3`, `1.0`, `+5` and `-0`, which the same setting's
 * variable, or one without a flag, refused.
 */
export const integerFlag = (name: string): Flag.Flag<number> =>
  Flag.String(name).pipe(
    Flag.withMetavar("integer"),
    Flag.filterMap((text) => Option.fromUndefinedOr(integerOf(text)), () => `Expected an integer (${INTEGER_FORM})`)
  )

/** An integer flag's variable, read as the flag reads its value; a refusal says what was expected (the CLI shows the value and names the variable). */
export const integerRead = (name: string) => integer(name, {}, (_, wanted) => `Expected ${wanted}`)

/**
 * A numeric value's range. `--help` shows it beside the flag's default (`rangeShown`), from the
 * same bounds: one it did not show was met only as a refusal (a lower bound of 0 or 1 alone is not shown).
 */
export const inRange = (min: number, max = Number.MAX_SAFE_INTEGER): Check<number> =>
  Object.assign(
    (n: number) =>
      n >= min && n <= max
        ? undefined
        // The default bound is named too: a value past it (1e308) was refused as if below the minimum.
        : max === Number.MAX_SAFE_INTEGER
        ? `a value of at least ${min} (at most ${max})`
        : `a value in ${min}..${max}`,
    { shown: max === Number.MAX_SAFE_INTEGER ? (min > 1 ? `at least ${min}` : undefined) : `${min}..${max}` }
  )

/** The range `inRange` made `check` of, as `--help` shows it; undefined for another check. */
export const rangeShown = (check: Check<never> | undefined): string | undefined => (check as { readonly shown?: string } | undefined)?.shown

/** `check`'s range, as a description's parenthesis starts with it: "1..10000; ". */
const rangeNote = (check: Check<never> | undefined) => {
  const shown = rangeShown(check)
  return shown === undefined ? "" : `${shown}; `
}

/** A number above 0. */
export const positive: Check<number> = (n) => n > 0 ? undefined : "a number above 0"

/** A string of more than blanks: `what` names what it wants. */
export const nonBlank = (what: string): Check<string> => (s) => s.trim().length > 0 ? undefined : what

/** Settings read from the environment alone (no flag), by every program and by those that open the warehouse. */
export const commonEnvironment = ["K2_LOG_LEVEL", "K2_LOG_FORMAT (docs/operations.md)", "OTEL_* tracing (docs/operations.md)"]
/** The trading days of daily summaries follow the same zones as ingest's sequence trackers. */
export const exchangeZonesEnvironment = "K2_SEQUENCE_ZONES (extra EXCHANGE=IANA/Zone pairs for trading days, docs/sequence-integrity.md)"
export const lakehouseEnvironment = [
  "K2_DUCKDB_CONNECTIONS",
  "K2_DUCKDB_THREADS",
  "K2_DUCKDB_MEMORY_LIMIT (512MB, 512M, 2GiB; at least 64MiB; not -1/none: unset is the default)",
  "K2_REST_TOKEN, K2_REST_CREDENTIAL, K2_REST_PARENT_NAMESPACE (REST catalog, docs/maintenance.md)"
]

/** A command's description followed by the settings it reads from the environment alone, so that --help names them all. */
export const describedWith = (about: string, environment: ReadonlyArray<string>) =>
  `${about}\n\n  Also read from the environment (no flag): ${environment.join(", ")}`

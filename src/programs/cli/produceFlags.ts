/**
 * `produce`'s flags, their defaults, and the checks of their values the flags cannot make alone:
 * --inject's fault rates, --duration, and the reports each given a file of its own.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Config, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { COMPANY_INFO_FILE } from "../../domain/feeds/asx.ts"
import { checked, inRange, integerFlag, integerRead, modeSetting, nonBlank, optionalSetting, positive, setting } from "./flags.ts"
import { BROKER_WAIT_ENV, clientFlag, partitionsFlag, schemaRegistryFlag } from "./kafka.ts"
import { UsageError } from "./common.ts"
import { simulatedSymbolsFlags } from "./symbols.ts"

/** The simulator's flags when not given; the ASX files refuse them given. */
const simDefaults = { exchange: "ASX", seed: 42, events: 10_000, days: 1 }
const DEAD_LETTERS = "asx-dead-letters.jsonl"

/** The simulator's run as the flags shape it. */
export const simRun = (options: Options) => ({
  exchange: Option.getOrElse(options.exchange, () => simDefaults.exchange),
  seed: Option.getOrElse(options.seed, () => simDefaults.seed),
  events: Option.getOrElse(options.events, () => simDefaults.events),
  days: Option.getOrElse(options.days, () => simDefaults.days)
})

export const flags = {
  source: Flag.Literals("source", ["sim", "asx"]).pipe(
    setting<"sim" | "asx">("sim: the simulator; asx: ASX historical tick files (--dir)", { fallback: "sim" })
  ),
  // Paths: an empty one (an unset variable) would be found unusable only after publishing.
  dir: Flag.String("dir").pipe(
    Flag.withDescription("asx: the load directory (trades/, quotes/, reference-data/)"),
    checked(nonBlank("a directory")),
    Flag.optional
  ),
  deadLetters: Flag.String("dead-letters").pipe(
    modeSetting("asx: where rejected rows go (JSON lines)", { fallback: DEAD_LETTERS, check: nonBlank("a file") })
  ),
  brokers: Flag.String("brokers").pipe(
    optionalSetting("Kafka bootstrap servers, comma separated", { env: "K2_KAFKA_BROKERS", read: Config.String })
  ),
  client: clientFlag,
  // ingest's setting: there it bounds the first contact, here that too and every outage under the publish.
  brokerWait: integerFlag("broker-wait").pipe(
    setting("seconds Kafka is waited for before the run fails (exit 1): a broker down or not up yet at the start (tried again, and said, every few seconds; a refusal, e.g. a bad password, fails at once), then each send Kafka has not taken (a broker restarting), sent again with backoff after each failure; 0 = as long as the fault lasts", { env: BROKER_WAIT_ENV, read: integerRead, fallback: 60, check: inRange(0) })
  ),
  schemaRegistry: schemaRegistryFlag,
  partitions: partitionsFlag,
  rate: integerFlag("rate").pipe(Flag.withDescription("sim: events per second (default: as fast as possible)"), checked(inRange(1)), Flag.optional),
  speed: Flag.Finite("speed").pipe(Flag.withDescription("sim: a multiple of real time"), checked(positive), Flag.optional),
  duration: Flag.String("duration").pipe(
    Flag.withDescription("stop after this long, e.g. 30s or 5m; what was read by then is sent and reconciled"),
    Flag.optional
  ),
  exchange: Flag.String("exchange").pipe(
    modeSetting("sim: exchange code of the simulated venue (topics follow it; every run numbers its streams from 1 on the same day, so ingest drops as duplicates the sequences a second run into the same topics repeats: give each run its own)", { fallback: simDefaults.exchange })
  ),
  seed: integerFlag("seed").pipe(modeSetting("sim: seed (same seed, same events)", { fallback: simDefaults.seed })),
  events: integerFlag("events").pipe(modeSetting("sim: events per symbol per day", { fallback: simDefaults.events, check: inRange(1) })),
  days: integerFlag("days").pipe(modeSetting("sim: trading days", { fallback: simDefaults.days, check: inRange(1) })),
  ...simulatedSymbolsFlags("sim"),
  inject: Flag.String("inject").pipe(
    Flag.withDescription("sim: fault rates, e.g. gap=0.001,duplicate=0.001,outOfOrder=0.001,poison=0.01 (reset=0.0001 too, with --days 2 or more)"),
    Flag.optional
  ),
  manifest: Flag.String("manifest").pipe(
    Flag.withDescription("sim: where to write the injected anomalies (JSON)"),
    checked(nonBlank("a file")),
    Flag.optional
  ),
  reconciliation: Flag.String("reconciliation").pipe(
    setting("where to write the reconciliation (JSON)", { fallback: "produce-reconciliation.json", check: nonBlank("a file") })
  )
}

export type Options = Command.Command.Config.Infer<typeof flags>

/** Where an ASX load's rejected rows go. */
export const deadLetterFile = (options: Options) => Option.getOrElse(options.deadLetters, () => DEAD_LETTERS)

const FAULTS = new Set(["gap", "duplicate", "outOfOrder", "reset", "poison"])

export const parseFaults = (text: string) => {
  const out: Record<string, number> = {}
  for (const part of text.split(",").filter((p) => p.length > 0)) {
    const [name, value, ...rest] = part.split("=")
    const rate = value !== undefined && /^(\d+(\.\d*)?|\.\d+)$/.test(value) ? Number(value) : Number.NaN
    if (name === undefined || !FAULTS.has(name) || rest.length > 0 || !(rate >= 0 && rate <= 1)) {
      throw new UsageError({ message: `--inject: "${part}" is not <${[...FAULTS].join("|")}>=<rate 0..1>` })
    }
    if (name in out) throw new UsageError({ message: `--inject: ${name} is given twice` })
    out[name] = rate
  }
  if (Object.keys(out).length === 0) {
    throw new UsageError({ message: `--inject: no fault given; give <${[...FAULTS].join("|")}>=<rate 0..1>, comma-separated` })
  }
  return out
}

export const parseDuration = (text: string): number => {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim())
  const ms = m === null ? 0 : Number(m[1]) * { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[m[2] as "ms" | "s" | "m" | "h"]
  // 0 would make the topics and publish nothing.
  if (!(ms > 0)) throw new UsageError({ message: `--duration: "${text}" is not like 500ms, 30s, 5m or 1h (above 0)` })
  return ms
}

/** What a path names, or "missing" (absent, or a file on its way); undefined when it cannot be looked at (left to the write). */
const kindOf = (file: string): "directory" | "other" | "missing" | undefined => {
  try {
    return fs.statSync(file).isDirectory() ? "directory" : "other"
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    return code === "ENOENT" || code === "ENOTDIR" ? "missing" : undefined
  }
}

/**
 * Why a report could never be written to `file` (produce makes no directory), or undefined: as
 * --dir and --warehouse refuse a path that can never be one (exit 2, before anything is touched),
 * not found as the run's failure (exit 1) once the last run's reconciliation was replaced. A
 * directory it may not write to is still its failure where it is written (exit 1), as --warehouse's.
 */
const neverWritable = (file: string): string | undefined => {
  const dir = path.dirname(path.resolve(file))
  if (kindOf(file) === "directory") return `${file} is a directory (want a file)`
  const parent = kindOf(dir)
  return parent === "missing" ? `${file}: no directory ${dir}` : parent === "other" ? `${file}: ${dir} is not a directory` : undefined
}

/** A path as the file system names it (links resolved), as far as it exists. */
const realPath = (p: string): string => {
  try {
    return fs.realpathSync(p)
  } catch {
    return path.resolve(p)
  }
}

/**
 * Which of the ASX load's inputs a report at `file` would be, or undefined: its company_info.csv, or
 * a file in its trades/ or quotes/ (any case, as the load reads them). The report is removed at the
 * start and written at the end, so the input was lost; one in trades/ was also listed as data.
 */
const loadInput = (dir: string, file: string): string | undefined => {
  const relative = path.relative(realPath(dir), path.join(realPath(path.dirname(path.resolve(file))), path.basename(file)))
  const [first, ...rest] = relative.split(path.sep)
  if (first === undefined || first === ".." || path.isAbsolute(relative) || rest.length === 0) return undefined
  if (rest.length === 1 && (first.toLowerCase() === "trades" || first.toLowerCase() === "quotes")) return `${first}/`
  // In any case too: on a case-insensitive disk (macOS) Company_Info.csv is the same file.
  return relative.split(path.sep).join("/").toLowerCase() === COMPANY_INFO_FILE ? COMPANY_INFO_FILE : undefined
}

/** Two reports in one file (the one written last would replace the other), one that could never be written, or one that is an input of the ASX load. */
export const refuseBadReportFiles = (options: Options) => {
  const reports: ReadonlyArray<readonly [string, string]> = [
    ...(options.source === "asx" ? [["dead-letters", deadLetterFile(options)] as const] : []),
    ["reconciliation", options.reconciliation],
    ...(Option.isSome(options.manifest) ? [["manifest", options.manifest.value] as const] : [])
  ]
  reports.forEach(([flag, file], i) => {
    const never = neverWritable(file)
    if (never !== undefined) throw new UsageError({ message: `--${flag}: ${never}` })
    const input = options.source === "asx" && Option.isSome(options.dir) ? loadInput(options.dir.value, file) : undefined
    if (input !== undefined) {
      throw new UsageError({ message: `--${flag}: ${file} is one of the load directory's inputs (${input}): give the report a path outside them` })
    }
    const other = reports.slice(i + 1).find(([, f]) => path.resolve(f) === path.resolve(file))
    if (other !== undefined) throw new UsageError({ message: `--${flag} and --${other[0]} name one file (${file}): give each report its own` })
  })
}

/**
 * `npm run bench [-- section ...]`: runs the benchmark sections (all by default) in one
 * process and prints one table per section. Figures are for this machine in this run;
 * compare ratios within a run, not absolute numbers across machines.
 */
import { Effect } from "effect"
import { benchIceberg } from "./iceberg.ts"
import { benchSequenceEffect } from "./sequence.ts"
import { benchFeeds } from "./feeds.ts"
import { benchQueryEffect } from "./query.ts"
import { benchKafka } from "./kafka.ts"
import { benchProduceEffect } from "./produce.ts"
import { benchIngestEffect } from "./ingest.ts"
import { benchHttpEffect } from "./http.ts"
import { benchMaintenanceEffect } from "./maintenance.ts"
import { benchObservabilityEffect } from "./observability.ts"
import { benchSymbols } from "./symbols.ts"
import { benchPartitionHeap } from "./partitionHeap.ts"
import { benchTableCommit } from "./tableCommit.ts"
import { BenchSettingError, benchSettingsHelp, checkBenchSettings } from "./settings.ts"

const sections: Record<string, () => Effect.Effect<Record<string, number | string>, unknown>> = {
  iceberg: benchIceberg,
  sequence: benchSequenceEffect,
  feeds: () => Effect.promise(benchFeeds),
  query: benchQueryEffect,
  kafka: () => Effect.promise(benchKafka),
  produce: benchProduceEffect,
  ingest: benchIngestEffect,
  commit: () => benchTableCommit(),
  http: benchHttpEffect,
  maintenance: benchMaintenanceEffect,
  observability: benchObservabilityEffect,
  symbols: () => Effect.sync(benchSymbols),
  partitions: () => Effect.sync(() => benchPartitionHeap())
}

const args = process.argv.slice(2)
const usage = () => `usage: npm run bench [-- <section> ...]\nsections: ${Object.keys(sections).join(", ")} (default: all)\n\nenvironment:\n${benchSettingsHelp()}`
if (args.includes("--help") || args.includes("-h")) {
  console.log(usage())
  process.exit(0)
}
// Settings are K2_BENCH_* variables: an option is a mistake, and ignoring it would run every section (hours).
const options = args.filter((a) => a.startsWith("-"))
if (options.length > 0) {
  console.error(`unknown option ${options.join(", ")}: sections are named, settings are K2_BENCH_* variables\n\n${usage()}`)
  process.exit(2)
}
const unknown = args.filter((w) => !(w in sections))
if (unknown.length > 0) {
  console.error(`unknown section(s): ${unknown.join(", ")}; known: ${Object.keys(sections).join(", ")}`)
  process.exit(2)
}

try {
  checkBenchSettings()
} catch (e) {
  if (!(e instanceof BenchSettingError)) throw e
  console.error(e.message)
  process.exit(2)
}

const program = Effect.gen(function*() {
  for (const name of args.length > 0 ? args : Object.keys(sections)) {
    console.log(`\n## ${name}`)
    const results = yield* sections[name]!()
    for (const [k, v] of Object.entries(results)) console.log(`${k.padEnd(52)} ${v}`)
  }
})

Effect.runPromise(program).catch((e) => {
  console.error(e)
  process.exit(1)
})

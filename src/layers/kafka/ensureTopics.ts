/**
 * `KafkaAdmin.ensureTopics` once, over the client calls it is made of: create what is missing,
 * then raise partition counts asked for and set configs where the spec says more
 * (`topicChanges`). Each client layer supplies its calls.
 */
import { Effect } from "effect"
import { topicChanges, topicConfigEntries, type TopicSpec } from "../../domain/wire.ts"
import type { EnsureResult, TopicDescription } from "../../services/KafkaSink.ts"
import { type KafkaError, kafkaError, KafkaRejected, KafkaUnavailable } from "../../services/KafkaSource.ts"

export interface TopicAdminCalls {
  readonly list: () => Effect.Effect<ReadonlyArray<string>, KafkaError>
  /**
   * Creates the topics and returns once each has its partition leaders. Returns the names that
   * existed after all (another process created them since `list`): they are checked as present.
   */
  readonly create: (missing: ReadonlyArray<TopicSpec>) => Effect.Effect<ReadonlyArray<string>, KafkaError>
  readonly describe: (names: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<TopicDescription>, KafkaError>
  /** Raises the topics' partition counts to the spec's. */
  readonly grow: (topics: ReadonlyArray<TopicSpec>) => Effect.Effect<void, KafkaError>
  /** Sets the spec's configs, leaving other overrides as they are. */
  readonly alter: (topics: ReadonlyArray<TopicSpec>) => Effect.Effect<void, KafkaError>
}

/**
 * Fails when specs name a topic twice, as a broker refuses a CreateTopics naming one twice (the
 * clients would otherwise differ: one refuses, one creates it with either spec).
 */
const distinctSpecs = (specs: ReadonlyArray<TopicSpec>): Effect.Effect<void, KafkaError> => {
  const seen = new Set<string>()
  for (const s of specs) {
    if (seen.has(s.name)) {
      return Effect.fail(kafkaError(new KafkaRejected({ operation: "createTopics", detail: `${s.name} is specified more than once` })))
    }
    seen.add(s.name)
  }
  return Effect.void
}

/**
 * Polls `led` (a client's metadata call: true once every partition asked for has a leader) until
 * it holds. CreateTopics and CreatePartitions answer before the broker's metadata shows the new
 * partitions led, and a send to one meanwhile is refused as to a missing partition. A metadata
 * error counts as "not yet" (a broker just started); past the deadline the last one is thrown,
 * or KafkaUnavailable (leaders still being elected: the broker is busy, try again later).
 */
export const untilLed = async (
  operation: string,
  names: ReadonlyArray<string>,
  led: () => Promise<boolean>,
  timing: { readonly timeoutMs: number; readonly pollMs: number } = { timeoutMs: 30_000, pollMs: 100 }
): Promise<void> => {
  const deadline = Date.now() + timing.timeoutMs
  for (;;) {
    let failure: { readonly error: unknown } | undefined
    try {
      if (await led()) return
    } catch (error) {
      failure = { error }
    }
    if (Date.now() > deadline) {
      if (failure !== undefined) throw failure.error
      throw kafkaError(new KafkaUnavailable({ operation, detail: `timed out waiting for the leaders of ${names.join(", ")}` }))
    }
    await new Promise((resolve) => setTimeout(resolve, timing.pollMs))
  }
}

const notAuthorized = (e: KafkaError) => e.reason._tag === "NotAuthorized"

/**
 * `change` of existing topics, unless the ACLs refuse it: a principal of least privilege (a
 * platform team makes and sizes the topics) ingests and publishes all the same, told what is left
 * (`told`: a warning).
 */
const unlessRefused = (change: Effect.Effect<void, KafkaError>, told: (e: KafkaError) => Effect.Effect<void>) =>
  change.pipe(
    Effect.as(true),
    Effect.catchIf(notAuthorized, (e) => Effect.as(told(e), false))
  )

const counts = (specs: ReadonlyArray<TopicSpec>, current: ReadonlyMap<string, number>) =>
  specs.map((s) => `${s.name}: ${current.get(s.name)} of ${s.partitions}`).join(", ")

/**
 * Partitions asked for (`--partitions`, `K2_TOPIC_PARTITIONS`; K2's default grows nothing) that
 * the principal may not add: a true mismatch, warned of at each start with what would end it.
 */
const partitionsLeft = (toGrow: ReadonlyArray<TopicSpec>, current: ReadonlyMap<string, number>) => (e: KafkaError) =>
  Effect.logWarning(
    `partitions left as they are (${counts(toGrow, current)}): ${e.message}. ` +
      `To end this warning, have the topics grown (or grant ALTER on them), or ask for as many partitions as they have (--partitions, K2_TOPIC_PARTITIONS)`
  )

/**
 * Existing topics with fewer partitions than K2's default: theirs to size (a feed or platform
 * team's), and growing them would move keys under every producer and consumer (ADR-74).
 */
const partitionsKept = (kept: ReadonlyArray<TopicSpec>, current: ReadonlyMap<string, number>) =>
  Effect.logInfo(
    `partitions kept as they are (${kept.map((s) => `${s.name}: ${current.get(s.name)}`).join(", ")}, K2's default is ${
      [...new Set(kept.map((s) => s.partitions))].join(", ")
    }): an existing topic is grown only to a count asked for (--partitions, K2_TOPIC_PARTITIONS), as growing it moves keys to other partitions`
  )

/** Partitions added as asked: said as a warning, since the keys' partitions changed for everyone. */
const partitionsAdded = (grown: ReadonlyArray<TopicSpec>, before: ReadonlyMap<string, number>) =>
  Effect.logWarning(
    `partitions added as asked (${grown.map((s) => `${s.name}: ${before.get(s.name)} to ${s.partitions}`).join(", ")}): ` +
      `keys (symbols) now go to other partitions, so their order across the change is not kept, for every producer and consumer of the topic; ` +
      `sequence checks may report gaps or out-of-order around it`
  )

export const ensureTopicsWith = (calls: TopicAdminCalls) =>
  Effect.fn("KafkaAdmin.ensureTopics")(function*(specs: ReadonlyArray<TopicSpec>) {
    yield* distinctSpecs(specs)
    const existingNames = new Set(yield* calls.list())
    const missing = specs.filter((s) => !existingNames.has(s.name))
    // Created meanwhile by someone else (produce and ingest starting together): its creator's spec
    // may differ from ours, so it is grown and altered like any existing topic.
    const raced = new Set(missing.length > 0 ? yield* calls.create(missing) : [])
    const created = missing.filter((s) => !raced.has(s.name))
    const present = specs.filter((s) => existingNames.has(s.name) || raced.has(s.name))
    const grown: Array<string> = []
    if (present.length > 0) {
      const described = yield* calls.describe(present.map((s) => s.name))
      // Only where the spec names configs (the DLQs' retention, the instruments' compaction) is
      // something left unchecked: a topic whose spec names none is no warning (ADR-78).
      const unreadable = new Set(described.filter((d) => d.config === undefined).map((d) => d.name))
      const unchecked = present.filter((s) => unreadable.has(s.name) && topicConfigEntries(s).length > 0)
      if (unchecked.length > 0) {
        yield* Effect.logWarning(
          `the configs of ${unchecked.map((s) => `${s.name} (${topicConfigEntries(s).map(([k, v]) => `${k}=${v}`).join(" ")})`).join(", ")} ` +
            `could not be read (no DESCRIBE_CONFIGS): not checked against K2's specs, left as they are. To end this warning, grant DESCRIBE_CONFIGS on them (read only)`
        )
      }
      const { toGrow, kept, toAlter } = topicChanges(present, described)
      const current = new Map(described.map((d) => [d.name, d.partitions]))
      if (kept.length > 0) yield* partitionsKept(kept, current)
      const growing = toGrow.length === 0 ? Effect.succeed(false) : unlessRefused(
        calls.grow(toGrow).pipe(
          Effect.tap(() => partitionsAdded(toGrow, current)),
          // Grown meanwhile by another process (produce and ingest starting together): the broker
          // refuses a count a topic already has. Refused with a topic still short, it stays a failure.
          Effect.catchIf(
            (e) => e.reason._tag === "KafkaRejected",
            (e) =>
              Effect.flatMap(calls.describe(toGrow.map((s) => s.name)), (now) =>
                topicChanges(toGrow, now).toGrow.length === 0 ? Effect.void : Effect.fail(e))
          )
        ),
        partitionsLeft(toGrow, current)
      )
      if (yield* growing) grown.push(...toGrow.map((s) => s.name))
      if (toAlter.length > 0) {
        yield* unlessRefused(
          calls.alter(toAlter),
          (e) =>
            Effect.logWarning(
              `configs left as they are, not K2's (${toAlter.map((s) => `${s.name}: ${topicConfigEntries(s).map(([k, v]) => `${k}=${v}`).join(" ")}`).join(", ")}): ${e.message}`
            )
        )
      }
    }
    return { created: created.map((s) => s.name), existing: present.map((s) => s.name), grown } satisfies EnsureResult
  })

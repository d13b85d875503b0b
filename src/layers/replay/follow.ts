/**
 * A table's catch-up point (the snapshot carrying a group's ingest marker) and `follow`: each table
 * replayed up to its catch-up point, then the live topics from there (live.ts).
 */
import { Effect, Stream } from "effect"
import { makeWireCodec } from "../../domain/avro/codec.ts"
import { quoted } from "../../domain/errors.ts"
import { markerOf, mergeOffsets, type Offsets } from "../../domain/ingest/marker.ts"
import { InvalidArgument, invalid } from "../../domain/query/errors.ts"
import { identifierOf } from "../../domain/tables.ts"
import { parseTopicName } from "../../domain/wire.ts"
import type { Catalog } from "../../services/Catalog.ts"
import type { MarketTable } from "../../services/QueryEngine.ts"
import type { CatchUpPoint, FollowRequest, ReplayError, ReplayEvent, ReplayRequest } from "../../services/ReplayEngine.ts"
import { openLive } from "./live.ts"
import { checkRequest } from "./requestChecks.ts"

/** The end of the table part of a follow: the last instant the domain accepts (2200-01-01). */
const END_OF_TIME = Date.UTC(2200, 0, 1) * 1000

export const makeFollow = (
  catalog: Catalog["Service"],
  stream: (request: ReplayRequest) => Stream.Stream<ReplayEvent, ReplayError>
) => {
  const catchUpPoint = Effect.fn("ReplayEngine.catchUpPoint")(function*(table: MarketTable, group: string) {
    const { metadata } = yield* catalog.loadTable(identifierOf(table))
    const found = yield* markerOf(metadata, group, table)
    return found === undefined
      ? undefined
      : { table, snapshotId: found.snapshotId, offsets: found.offsets satisfies Offsets, topicIds: found.topicIds }
  })

  // The embedded schema ids, unless the request says the topics use a registry's.
  const embedded = { codec: makeWireCodec() }

  const follow = (request: FollowRequest) =>
    Stream.unwrap(Effect.gen(function*() {
      if (request.from >= END_OF_TIME) {
        return yield* invalid(new InvalidArgument({ name: "from", detail: "a follow starts before 2200-01-01, the last instant K2 reads" }))
      }
      const c = yield* checkRequest({ ...request, to: END_OF_TIME })
      const points: Array<CatchUpPoint> = []
      for (const table of c.which) {
        const point = yield* catchUpPoint(table, request.group)
        if (point !== undefined) points.push(point)
      }
      const starts = points.reduce<Offsets>((all, p) => mergeOffsets(all, p.offsets), new Map())
      const named = [...new Set([...starts.keys(), ...(request.topics ?? [])])].sort()
      const bad = named.find((t) => parseTopicName(t) === undefined)
      if (bad !== undefined) {
        return yield* invalid(new InvalidArgument({ name: "topics", detail: `${quoted(bad)} is not market.{asset_class}.{trades|quotes}.{exchange}` }))
      }
      const topics = named.filter((t) => c.which.includes(parseTopicName(t)!.dataType))
      if (topics.length === 0) {
        return yield* invalid(new InvalidArgument({
          name: "topics",
          detail: `no snapshot of ${c.which.join(", ")} carries the marker of group ${quoted(request.group)}; name the topics to follow`
        }))
      }
      // Joined before the table part plays, so a gap fails at once and the group join overlaps the replay.
      const topicIds = new Map(points.flatMap((p) => [...p.topicIds]))
      const live = yield* openLive({ topics, starts, topicIds, from: c.range.from, symbols: c.symbols, schemas: request.schemas ?? embedded })
      let tableEvents = 0
      const table = points.length === 0 ? Stream.empty : stream({
        ...request,
        to: END_OF_TIME,
        tables: points.map((p) => p.table),
        snapshots: Object.fromEntries(points.map((p) => [p.table, { _tag: "ById", snapshotId: p.snapshotId }]))
      }).pipe(Stream.mapArray((events) => {
        tableEvents += events.length
        return events
      }))
      const switched = Stream.unwrap(Effect.as(
        request.onLive === undefined ? Effect.void : Effect.suspend(() => request.onLive!({ tableEvents, offsets: live.offsets })),
        live.events
      ))
      return Stream.concat(table, switched)
    }))

  return { catchUpPoint, follow }
}

/** What a checkpoint must hold to be restored: states the machine reaches. */
import type { CheckpointStream } from "./checkpointFormat.ts"

/**
 * Why a decoded stream is no state the machine reaches, or undefined. Reachable: floor <= last;
 * the previous session ends before the head; open gaps are ascending ranges lo <= hi, each
 * above a seen sequence (the floor, or one between it and the range below) and below the head.
 */
const unreachableState = (stream: CheckpointStream): string | undefined => {
  const [, , lastJson, lastTs, floorJson, prevTs, gapsJson, , startTs, crossJson, crossFrom, crossTs, fillsJson, fillTs] = stream
  // Exact whatever the size (a restore is rare: bigints cost nothing that matters here).
  const last = BigInt(lastJson)
  const floor = BigInt(floorJson)
  if (floor > last) return "floor above the last sequence"
  if (prevTs !== null && prevTs >= lastTs) return "previous session does not end before the head"
  if (startTs !== undefined && startTs !== null && (prevTs === null || startTs <= prevTs)) return "session start not after the previous session"
  if ((crossJson === undefined) !== (crossTs === undefined)) return "forward session start without its times"
  if (crossFrom !== undefined && crossTs !== undefined && crossFrom >= crossTs) return "forward session start not after the old head"
  const cross = crossJson === undefined ? undefined : BigInt(crossJson)
  if (cross !== undefined && cross > last) return "forward session start above the last sequence"
  let seen = floor
  for (let i = 0; i < gapsJson.length; i += 2) {
    const lo = BigInt(gapsJson[i]!), hi = BigInt(gapsJson[i + 1]!)
    if (!(seen < lo && lo <= hi && hi < last)) return "open gaps not ascending, disjoint ranges between floor and last"
    if (cross !== undefined && lo <= cross && cross <= hi) return "forward session start inside an open gap"
    seen = hi + 1n
  }
  if (fillsJson !== undefined) {
    if (cross === undefined || fillsJson.length % 2 !== 0) return "late fills without a forward session start"
    let below: bigint | undefined
    for (let i = 0; i < fillsJson.length; i += 2) {
      const lo = BigInt(fillsJson[i]!), hi = BigInt(fillsJson[i + 1]!)
      if (!((below === undefined || below < lo) && lo <= hi && hi < cross)) return "late fills not ascending, disjoint ranges below the forward session start"
      for (let j = 0; j < gapsJson.length; j += 2) {
        if (lo <= BigInt(gapsJson[j + 1]!) && BigInt(gapsJson[j]!) <= hi) return "late fills inside an open gap"
      }
      below = hi + 1n
    }
  }
  // A late fill of the new session is stamped past the old head.
  if (fillTs !== undefined && !(crossFrom !== undefined && fillTs > crossFrom)) return "late fills' time not after the old head"
  return undefined
}

/** Why a decoded checkpoint cannot be restored (the first stream that fails, named), or undefined. */
export const checkpointProblem = (streams: ReadonlyArray<CheckpointStream>): string | undefined => {
  for (const stream of streams) {
    if (stream[6].length % 2 !== 0) return `stream ${stream[0]}/${stream[1]}: odd number of gap bounds`
    // A state the machine cannot reach would judge wrongly, e.g. drop a late message as DUPLICATE.
    const unreachable = unreachableState(stream)
    if (unreachable !== undefined) return `stream ${stream[0]}/${stream[1]}: ${unreachable}`
  }
  return undefined
}

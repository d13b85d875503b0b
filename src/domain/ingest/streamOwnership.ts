/**
 * Which partition owns each sequence stream (exchange, symbol) of a table. A stream lives in one
 * Kafka partition at a time (the key is the symbol), but it moves when a topic gains partitions,
 * and one (exchange, symbol) can come on two topics of a table. It belongs to the partition that
 * last carried it: only its owner checkpoints, forgets and restores it, so a revoke or restart of
 * the partition it left cannot reset it from a stale checkpoint. That partition remembers it
 * (`left`): its records read again after a restart or revoke were seen by the stream's state, so
 * it restarts with the owner, forgets the stream, or judges them apart (docs/sequence-integrity.md).
 */
import { checkpointStreams } from "../sequence/tracker.ts"

/**
 * Streams by exchange: a lookup per row builds no key string. Its map is made with its first
 * stream: every partition holds two sets from its start, most of them empty (~180 B each).
 */
export class StreamSet {
  private byExchange: Map<string, Set<string>> | undefined
  size = 0
  add(exchange: string, symbol: string): void {
    this.byExchange ??= new Map()
    let symbols = this.byExchange.get(exchange)
    if (symbols === undefined) this.byExchange.set(exchange, (symbols = new Set()))
    if (symbols.has(symbol)) return
    symbols.add(symbol)
    this.size++
  }
  has(exchange: string, symbol: string): boolean {
    return this.byExchange?.get(exchange)?.has(symbol) ?? false
  }
  delete(exchange: string, symbol: string): void {
    const symbols = this.byExchange?.get(exchange)
    if (symbols?.delete(symbol) !== true) return
    this.size--
    if (symbols.size === 0) this.byExchange!.delete(exchange)
  }
  /** Keeps only the streams `keep` selects. */
  retain(keep: (exchange: string, symbol: string) => boolean): void {
    if (this.byExchange === undefined) return
    for (const [exchange, symbols] of this.byExchange) {
      for (const symbol of symbols) {
        if (keep(exchange, symbol)) continue
        symbols.delete(symbol)
        this.size--
      }
      if (symbols.size === 0) this.byExchange.delete(exchange)
    }
  }
  some(f: (exchange: string, symbol: string) => boolean): boolean {
    for (const [exchange, symbols] of this.byExchange ?? []) for (const symbol of symbols) if (f(exchange, symbol)) return true
    return false
  }
}

/** A partition as ownership sees it. */
export interface Owner<K extends string = string> {
  readonly key: K
  readonly table: string
  readonly streams: StreamSet
  /** Streams it carried that moved to another partition since it was installed. */
  readonly left: StreamSet
}

/** The partitions installed, by key, as the ingestor holds them. */
export type Installed<O extends Owner> = ReadonlyMap<O["key"], O>

type Holders = Map<string, Map<string, Map<string, Owner>>>

/**
 * Which partition took each stream last (a claim, or a restore), by table, exchange and symbol, kept
 * beside the partitions it is about. A stream has one owner at a time, and only taking it names
 * another, so the one it names is the owner while that partition state is still installed and
 * holds the stream: finding a stream's owner is one lookup. Asking every partition of the table
 * cost a claim 40 µs at 480 partitions, on every record of a stream new to its partition, which a
 * feed of more symbols than the tracker holds is on almost every record (ADR-76).
 */
const holdersOf = new WeakMap<Installed<Owner>, Holders>()

const holders = (installed: Installed<Owner>): Holders => {
  let h = holdersOf.get(installed)
  if (h === undefined) holdersOf.set(installed, (h = new Map()))
  return h
}

const took = (installed: Installed<Owner>, part: Owner, exchange: string, symbol: string): void => {
  const h = holders(installed)
  let byExchange = h.get(part.table)
  if (byExchange === undefined) h.set(part.table, (byExchange = new Map()))
  let symbols = byExchange.get(exchange)
  if (symbols === undefined) byExchange.set(exchange, (symbols = new Map()))
  symbols.set(symbol, part)
}

/** Forgets that `part` took the stream (not that another did since). */
const letGoOne = (installed: Installed<Owner>, part: Owner, exchange: string, symbol: string): void => {
  const byExchange = holdersOf.get(installed)?.get(part.table)
  const symbols = byExchange?.get(exchange)
  if (symbols?.get(symbol) !== part) return
  symbols.delete(symbol)
  if (symbols.size === 0) byExchange!.delete(exchange)
}

/** The partition of `table` that owns the stream, other than those `besides` names. */
export const ownerOf = <O extends Owner>(
  installed: Installed<O>,
  table: string,
  exchange: string,
  symbol: string,
  besides: (key: O["key"]) => boolean
): O | undefined => {
  const last = holdersOf.get(installed)?.get(table)?.get(exchange)?.get(symbol) as O | undefined
  if (last === undefined || installed.get(last.key) !== last || besides(last.key) || !last.streams.has(exchange, symbol)) return undefined
  return last
}

/** `part` carries the stream now: it becomes its owner, and the previous owner lets it go. */
export const claim = <O extends Owner>(installed: Installed<O>, part: O, exchange: string, symbol: string): void => {
  const previous = ownerOf(installed, part.table, exchange, symbol, (key) => key === part.key)
  if (previous !== undefined) {
    previous.streams.delete(exchange, symbol)
    previous.left.add(exchange, symbol)
  }
  part.streams.add(exchange, symbol)
  took(installed, part, exchange, symbol)
}

/** `part`, just installed, owns the streams it holds (restored from its checkpoint). */
export const holdAll = <O extends Owner>(installed: Installed<O>, part: O): void => {
  part.streams.some((exchange, symbol) => (took(installed, part, exchange, symbol), false))
}

/** `part` is uninstalled (revoked, or replaced by a restart): what it took is forgotten. */
export const letGoAll = <O extends Owner>(installed: Installed<O>, part: O): void => {
  part.streams.some((exchange, symbol) => (letGoOne(installed, part, exchange, symbol), false))
}

/** `part` keeps only the streams `keep` selects. */
export const keepOnly = <O extends Owner>(installed: Installed<O>, part: O, keep: (exchange: string, symbol: string) => boolean): void => {
  part.streams.retain((exchange, symbol) => keep(exchange, symbol) || (letGoOne(installed, part, exchange, symbol), false))
}

/**
 * Whether a stream of a table moved since its partitions were installed (one of them has it in
 * `left`): one pass over the partitions' `left`, then a lookup a stream. Asking every partition for
 * each stream cost a checkpoint commit 0.1 s at 120 partitions and 40,000 streams the tracker had
 * evicted (ADR-76).
 */
export const movedAmong = (owners: Iterable<Owner>): ((table: string, exchange: string, symbol: string) => boolean) => {
  const byTable = new Map<string, StreamSet>()
  for (const owner of owners) {
    if (owner.left.size === 0) continue
    let moved = byTable.get(owner.table)
    if (moved === undefined) byTable.set(owner.table, (moved = new StreamSet()))
    owner.left.some((exchange, symbol) => (moved.add(exchange, symbol), false))
  }
  return (table, exchange, symbol) => byTable.get(table)?.has(exchange, symbol) ?? false
}

/** Two partitions of a table carried a stream in common since they were installed. */
const share = (a: Owner, b: Owner): boolean =>
  a.table === b.table &&
  (a.left.some((e, s) => b.streams.has(e, s) || b.left.has(e, s)) || b.left.some((e, s) => a.streams.has(e, s)))

/**
 * The partitions to restart with `restarting`: those that carried a stream in common with one of
 * them (transitively). A stream that moved holds in the tracker what each of its partitions fed
 * it; a partition restarted alone would read its records again against that state (and drop them
 * as duplicates), or lose from it what the others fed it. Restarted together, the stream comes
 * back from their checkpoints and their records are all read again.
 */
export const restartingTogether = <O extends Owner>(owners: Iterable<O>, restarting: Iterable<O>): ReadonlyArray<O> => {
  const candidates = [...owners]
  const together = [...restarting]
  const chosen = new Set<O>(together)
  for (let i = 0; i < together.length; i++) {
    for (const other of candidates) {
      if (!chosen.has(other) && share(together[i]!, other)) {
        chosen.add(other)
        together.push(other)
      }
    }
  }
  return together
}

/**
 * Among checkpoints restored together (a restart installs every partition at once), which one
 * each stream comes from: the newest, since a stream in several is one that moved, seen last by
 * the newest. Newest is the one whose tracker judged the stream last (its seenAt: the head alone
 * does not move on a late fill, and its exchange time can go back); without that (a tie, or a
 * checkpoint older than seenAt), the latest head in exchange time, then the furthest along its
 * sequence: the sequence alone goes back when the stream restarts its numbering (a new trading day).
 */
export const newestCheckpoints = <K extends string>(
  checkpoints: Iterable<{ readonly key: K; readonly table: string; readonly json: string }>
) => {
  const newest = new Map<
    string,
    { readonly key: K; readonly last: bigint; readonly lastTs: number; readonly seenAt: number | undefined }
  >()
  for (const { json, key, table } of checkpoints) {
    for (const [exchange, symbol, last, lastTs, seenAt] of checkpointStreams(json)) {
      const stream = `${table}\u0000${exchange}\u0000${symbol}`
      const best = newest.get(stream)
      const judged = seenAt === undefined || best?.seenAt === undefined || seenAt === best.seenAt ? 0 : seenAt - best.seenAt
      if (
        best === undefined || judged > 0 ||
        (judged === 0 && (lastTs > best.lastTs || (lastTs === best.lastTs && last > best.last)))
      ) {
        newest.set(stream, { key, last, lastTs, seenAt })
      }
    }
  }
  return (table: string, exchange: string, symbol: string): K | undefined => newest.get(`${table}\u0000${exchange}\u0000${symbol}`)?.key
}

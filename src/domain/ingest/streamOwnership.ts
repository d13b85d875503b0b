/**
 * Which partition owns each sequence stream (exchange, symbol) of a table. A stream lives in one
 * Kafka partition at a time (the key is the symbol), but it moves when a topic gains partitions,
 * and one (exchange, symbol) can come on two topics of a table. It belongs to the partition that
 * last carried it: only its owner checkpoints, forgets and restores it, so a revoke or restart of
 * the partition it left cannot reset it (docs/sequence-integrity.md).
 */
import { checkpointStreams } from "../sequence/tracker.ts"

/** Streams by exchange: a lookup per row builds no key string. */
export class StreamSet {
  private readonly byExchange = new Map<string, Set<string>>()
  size = 0
  add(exchange: string, symbol: string): void {
    let symbols = this.byExchange.get(exchange)
    if (symbols === undefined) this.byExchange.set(exchange, (symbols = new Set()))
    if (symbols.has(symbol)) return
    symbols.add(symbol)
    this.size++
  }
  has(exchange: string, symbol: string): boolean {
    return this.byExchange.get(exchange)?.has(symbol) ?? false
  }
  delete(exchange: string, symbol: string): void {
    if (this.byExchange.get(exchange)?.delete(symbol) === true) this.size--
  }
}

/** A partition as ownership sees it. */
export interface Owner<K extends string = string> {
  readonly key: K
  readonly table: string
  readonly streams: StreamSet
}

/** The partition of `table` that owns the stream, other than those `besides` names. */
export const ownerOf = <O extends Owner>(
  owners: Iterable<O>,
  table: string,
  exchange: string,
  symbol: string,
  besides: (key: O["key"]) => boolean
): O | undefined => {
  for (const other of owners) {
    if (!besides(other.key) && other.table === table && other.streams.has(exchange, symbol)) return other
  }
  return undefined
}

/** `part` carries the stream now: it becomes its owner, and the previous owner lets it go. */
export const claim = <O extends Owner>(owners: Iterable<O>, part: O, exchange: string, symbol: string): void => {
  ownerOf(owners, part.table, exchange, symbol, (key) => key === part.key)?.streams.delete(exchange, symbol)
  part.streams.add(exchange, symbol)
}

/**
 * Among checkpoints restored together (a restart installs every partition at once), which one
 * each stream comes from: the newest, since a stream in several is one that moved, seen last by
 * the newest. Newest is the latest head in exchange time, then the furthest along its sequence:
 * the sequence alone goes back when the stream restarts its numbering (a new trading day).
 */
export const newestCheckpoints = <K extends string>(
  checkpoints: Iterable<{ readonly key: K; readonly table: string; readonly json: string }>
) => {
  const newest = new Map<string, { readonly key: K; readonly last: bigint; readonly lastTs: number }>()
  for (const { json, key, table } of checkpoints) {
    for (const [exchange, symbol, last, lastTs] of checkpointStreams(json)) {
      const stream = `${table}\u0000${exchange}\u0000${symbol}`
      const best = newest.get(stream)
      if (best === undefined || lastTs > best.lastTs || (lastTs === best.lastTs && last > best.last)) {
        newest.set(stream, { key, last, lastTs })
      }
    }
  }
  return (table: string, exchange: string, symbol: string): K | undefined => newest.get(`${table}\u0000${exchange}\u0000${symbol}`)?.key
}

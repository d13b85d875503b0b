/**
 * Sequences for sources that have none (files without a sequence column): the feed
 * numbers each (exchange, symbol) stream 1, 2, 3, ... in input order within one load
 * (docs/sequence-integrity.md). The numbers depend only on the file, so loading it
 * again while its streams are tracked is judged DUPLICATE row for row.
 */

/** A counter per (exchange, symbol): each call returns the stream's next 1-based sequence. */
export const makeSequenceAssigner = (): (exchange: string, symbol: string) => bigint => {
  const next = new Map<string, Map<string, bigint>>()
  return (exchange, symbol) => {
    let symbols = next.get(exchange)
    if (symbols === undefined) {
      symbols = new Map()
      next.set(exchange, symbols)
    }
    const seq = (symbols.get(symbol) ?? 0n) + 1n
    symbols.set(symbol, seq)
    return seq
  }
}

/** Fills each null source_sequence with its stream's 1-based row order; rows that have one keep it. */
export const assignSequences = <R extends { readonly exchange: string; readonly symbol: string; readonly source_sequence: bigint | null }>(
  rows: ReadonlyArray<R>
): Array<R> => {
  const assign = makeSequenceAssigner()
  return rows.map((r) => {
    const seq = assign(r.exchange, r.symbol)
    return r.source_sequence === null ? { ...r, source_sequence: seq } : r
  })
}

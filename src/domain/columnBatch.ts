/**
 * Rows as columns, the shape data files are written from. Value conventions per
 * Iceberg type: string → string; int → number; long → bigint; decimal(18, 8) →
 * bigint unscaled; timestamptz → bigint epoch micros; date → number of days;
 * list<string> → string[]; map<string, string> → [key, value][]; null when absent.
 * A long, decimal or timestamp column without nulls may be a BigInt64Array: its values stay
 * unboxed until written (no bigint object per value in the heap while a flush runs).
 */
export type Column = ReadonlyArray<unknown> | BigInt64Array

export interface ColumnBatch {
  readonly rowCount: number
  readonly columns: Readonly<Record<string, Column>>
}

/** Concatenates batches of the same table (plain loops: `flatMap` was a hot spot of every flush). */
export const concatBatches = (batches: ReadonlyArray<ColumnBatch>): ColumnBatch => {
  if (batches.length === 1) return batches[0]!
  let rowCount = 0
  for (const b of batches) rowCount += b.rowCount
  const columns: Record<string, Column> = {}
  for (const name of Object.keys(batches[0]?.columns ?? {})) {
    if (batches.every((b) => b.columns[name] instanceof BigInt64Array)) {
      const out = new BigInt64Array(rowCount)
      let at = 0
      for (const b of batches) {
        out.set((b.columns[name] as BigInt64Array).subarray(0, b.rowCount), at)
        at += b.rowCount
      }
      columns[name] = out
      continue
    }
    const out = new Array<unknown>(rowCount)
    let at = 0
    for (const b of batches) {
      const values = b.columns[name]
      for (let i = 0; i < b.rowCount; i++) out[at++] = values?.[i]
    }
    columns[name] = out
  }
  return { rowCount, columns }
}

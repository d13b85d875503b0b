/**
 * Rows as columns, the shape data files are written from. Value conventions per
 * Iceberg type: string → string; int → number; long → bigint; decimal(18, 8) →
 * bigint unscaled; timestamptz → bigint epoch micros; date → number of days;
 * list<string> → string[]; map<string, string> → [key, value][]; null when absent.
 */
export interface ColumnBatch {
  readonly rowCount: number
  readonly columns: Readonly<Record<string, ReadonlyArray<unknown>>>
}

/** Concatenates batches of the same table. */
export const concatBatches = (batches: ReadonlyArray<ColumnBatch>): ColumnBatch => {
  if (batches.length === 1) return batches[0]!
  const names = Object.keys(batches[0]?.columns ?? {})
  return {
    rowCount: batches.reduce((n, b) => n + b.rowCount, 0),
    columns: Object.fromEntries(names.map((name) => [name, batches.flatMap((b) => b.columns[name] ?? [])]))
  }
}

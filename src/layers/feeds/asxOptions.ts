/** What layerAsx is given: the load directory, the dead-letter file and how the files are read. */
export interface AsxOptions {
  /** The load directory: trades/, quotes/ and reference-data/company_info.csv. */
  readonly dir: string
  /** Where rejected rows go, one JSON object a line; replaced on every run. */
  readonly deadLetterFile: string
  /** Bytes read per block (one stream chunk per block, ~1,500 rows). Default 64 KiB: much larger chunks outlive young-generation GC and halve throughput. */
  readonly blockBytes?: number
  /** Longest line read as a row, in characters (default 64 Ki; ASX rows are under 100). */
  readonly maxLineChars?: number
}

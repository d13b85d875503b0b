/**
 * MarketFeed over a directory of ASX historical tick files (format: src/domain/feeds/asx.ts).
 *
 * - Files are read in blocks (default 64 KiB) and each block's rows become one stream chunk,
 *   so memory stays bounded whatever the file size and there is no Effect per row.
 * - message_id is positional: `asx:<file>:<line>` with 1-based physical line numbers.
 * - source_sequence is 1-based per (symbol, data type), in line order of the symbol's files
 *   (company ids in numeric order when several map to one symbol), counting accepted rows
 *   only: dead-lettered rows do not consume a number, so a clean re-load has no gaps.
 * - Bad rows go to `deadLetterFile` (JSON lines: file, line, reason, raw), recreated each run;
 *   a line longer than `maxLineChars` is one bad row, with only its first characters kept, and
 *   so is a line holding invalid UTF-8.
 * - What is not read is said: each entry of trades/ and quotes/ that is not a `<company_id>.csv`
 *   file (`1001.csv.gz`, a sub-directory) is a dead letter with line 0; hidden entries are ignored.
 *   A data file that cannot be opened (dangling link, no permission, removed since the listing) or
 *   is no regular file is a dead letter with line 0 too, and the load goes on.
 *
 * - Listing (asxDirectories.ts): trades/ and quotes/ as named on disk, their `<company_id>.csv` files
 *   and the entries not read; company_info.csv (asxCompanies.ts), its instruments and the order
 *   companies are read in (asxInstrumentOrder.ts).
 * - Reading (asxLoad.ts, the load itself): each data file opened (asxOpenDataFile.ts) and read in
 *   blocks of lines (asxLineBlocks.ts); UTF-16 files and U+FFFD by asxEncoding.ts; dead letters
 *   written by asxDeadLetters.ts; file failures as FeedError by asxIoErrors.ts.
 */
import { Effect, Layer, Stream } from "effect"
import { FeedError, SummaryCounter } from "../../domain/feeds/events.ts"
import { MarketFeed } from "../../services/MarketFeed.ts"
import { ioError } from "./asxIoErrors.ts"
import { load } from "./asxLoad.ts"
import type { AsxOptions } from "./asxOptions.ts"

export type { AsxOptions }

const toFeedError = (dir: string) => (cause: unknown): FeedError =>
  cause instanceof FeedError ? cause : ioError(dir, cause)

/** The ASX feed as a MarketFeed. */
const makeAsx = (options: AsxOptions) =>
  Effect.sync(() => {
    let counter = new SummaryCounter("asx")
    return MarketFeed.of({
      name: "asx",
      events: () =>
        Stream.suspend(() => {
          counter = new SummaryCounter("asx")
          return Stream.fromAsyncIterable(load(options, counter), toFeedError(options.dir)).pipe(Stream.flattenArray)
        }),
      summary: Effect.sync(() => counter.snapshot()),
      manifest: Effect.succeed([])
    })
  })

export const layerAsx = (options: AsxOptions): Layer.Layer<MarketFeed> => Layer.effect(MarketFeed, makeAsx(options))

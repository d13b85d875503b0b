/** @platformatic/kafka's own decoders (WASM snappy and lz4, node:zlib gzip and zstd), guarded. */
import { batchBaseOffset } from "./compressedBatchOffset.ts"
import { corruptFix, KafkaCompressionUnsupported } from "./compressionErrors.ts"
import { zstdEachFrame } from "./zstd.ts"

interface PlatformaticCodec {
  decompressSync: ((data: Buffer) => Buffer) & { k2Guarded?: boolean }
}

/**
 * @platformatic/kafka decodes every codec itself (WASM snappy and lz4, node:zlib gzip and zstd), but
 * a batch its decoder fails on surfaced as the decoder's own words ("RuntimeError: unreachable"),
 * retried as a fetch 9 times before the consumer failed. Its decoders are wrapped (once per process:
 * the table is its module state) to fail with its UnsupportedCompressionError, which it does not
 * retry, naming the codec, the batch (its offset when the decoder is handed a view of the fetched
 * bytes, else its size) and the fix; `k2Batch` keeps what `at` needs to name the partitions. Its zstd
 * decodes each of a batch's frames (`zstdFrames`), as Java's consumer does, not the first alone.
 */
type PlatformaticUnsupported = new(message: string, properties?: { readonly k2Batch: KafkaCompressionUnsupported }) => Error

export const guardPlatformaticCodecs = (
  algorithms: Readonly<Record<string, PlatformaticCodec>>,
  Unsupported: PlatformaticUnsupported
) => {
  for (const codec of ["gzip", "snappy", "lz4", "zstd"]) {
    const algorithm = algorithms[codec]
    const decompress = algorithm?.decompressSync
    if (algorithm === undefined || decompress === undefined || decompress.k2Guarded === true) continue
    algorithm.decompressSync = Object.assign((data: Buffer) => {
      try {
        // Its zstd (node:zlib) decodes a batch's first frame only.
        return codec === "zstd" ? zstdEachFrame(data, decompress) : decompress(data)
      } catch (e) {
        const offset = batchBaseOffset(data)
        const batch = offset === undefined ? ` (a batch of ${data.length} compressed bytes)` : ` (the batch at offset ${offset}, ${data.length} compressed bytes)`
        const error = new KafkaCompressionUnsupported(codec, e instanceof Error ? `${e.name}: ${e.message}` : String(e), batch, corruptFix(codec))
        throw new Unsupported(error.message, { k2Batch: error })
      }
    }, { k2Guarded: true })
  }
}

/**
 * Decoders for the record-batch codecs kafkajs 2.2 lacks (ADR-72): snappy (raw blocks, as librdkafka
 * writes them, and xerial's chunked framing, as the Java producer and a broker recompressing for a
 * topic's `compression.type=snappy` write them), LZ4 frames (Kafka's record batches since magic 1),
 * and zstd (node:zlib, Node 22.15+, frame by frame: `zstdFrames`). Decode only: K2's kafkajs
 * producer sends uncompressed (the topic's compression.type applies at the broker). @platformatic/kafka decodes all four itself
 * (WASM and node:zlib).
 *
 * A batch that cannot be decoded fails the consumer at once (a non-retriable
 * `KafkaCompressionUnsupported`, naming the codec, the topic-partition and batch offset when they can
 * be found, and what to do): never a retry, never records read as something else. platformatic's
 * decoders are wrapped likewise (`guardPlatformaticCodecs`): its own error, not retried.
 */
export { batchBaseOffset } from "./compressedBatchOffset.ts"
export { fetchedFrom, KafkaCompressionUnsupported } from "./compressionErrors.ts"
export { kafkajsCodecs, registerKafkajsCodecs } from "./kafkajsCodecs.ts"
export { lz4Decompress } from "./lz4.ts"
export { guardPlatformaticCodecs } from "./platformaticCodecs.ts"
export { snappyDecompress } from "./snappy.ts"
export { zstdEachFrame, zstdFrames } from "./zstd.ts"

/**
 * kafkajs 2.2's codec table filled with K2's snappy, lz4 and zstd decoders (ADR-72), a failing entry
 * for the codec ids Kafka does not define, and its Fetch decoders wrapped to name the topic-partition
 * of a batch that cannot be decoded (and to check CRCs first, kafkajsFetch.ts).
 */
import { createRequire } from "node:module"
import { batchBaseOffset } from "./compressedBatchOffset.ts"
import { corruptFix, fetchedFrom, KafkaCompressionUnsupported, NoZstd } from "./compressionErrors.ts"
import { checkFetchResponse, fetchedPartitions } from "./kafkajsFetch.ts"
import { lz4Decompress } from "./lz4.ts"
import { snappyDecompress } from "./snappy.ts"
import { zstdDecompress } from "./zstd.ts"

type CodecName = "snappy" | "lz4" | "zstd"

const where = (payload: Uint8Array) => {
  const offset = batchBaseOffset(payload)
  return offset === undefined ? "" : ` (the batch at offset ${offset})`
}

const decoding = (codec: CodecName, decode: (input: Uint8Array) => Buffer | Promise<Buffer>) => async (payload: Buffer): Promise<Buffer> => {
  try {
    return await decode(payload)
  } catch (e) {
    const fix = e instanceof NoZstd ? "run K2 on Node.js 22.15 or newer (package.json engines), or use --client platformatic" : corruptFix(codec)
    throw new KafkaCompressionUnsupported(codec, e instanceof Error ? e.message : String(e), where(payload), fix, payload)
  }
}

const notCompressing = (codec: CodecName) => async (): Promise<Buffer> => {
  throw new KafkaCompressionUnsupported(codec, "K2's kafkajs producer does not compress", "", "leave compression to the topic's compression.type")
}

export const kafkajsCodecs = {
  snappy: { compress: notCompressing("snappy"), decompress: decoding("snappy", snappyDecompress) },
  lz4: { compress: notCompressing("lz4"), decompress: decoding("lz4", lz4Decompress) },
  zstd: { compress: notCompressing("zstd"), decompress: decoding("zstd", zstdDecompress) }
}

const require = createRequire(import.meta.url)

/**
 * The topic and partition of a fetch response (`version` 4-11, as kafkajs decodes them) whose
 * records hold `payload` (a view into the same bytes).
 */
const fetchedPartitionOf = (response: Uint8Array, version: number, payload: Uint8Array): { topic: string; partition: number } | undefined => {
  if (response.buffer !== payload.buffer) return undefined
  const target = payload.byteOffset - response.byteOffset
  return fetchedPartitions(response, version)?.find((p) => target >= p.start && target < p.end)
}

/**
 * kafkajs decodes a whole fetch response before it hands any partition over: a batch that cannot
 * be decompressed fails it with no word of where. Its fetch response decoders (v4-v11) are wrapped
 * to name the topic and partition, and to check each complete batch's CRC-32C first
 * (kafkajsFetch.ts; kafkajs reads the CRC and ignores it). Whether they were found as expected.
 */
const nameFetchedPartitions = (): boolean => {
  let found = true
  for (let version = 4; version <= 11; version++) {
    const response = require(`kafkajs/src/protocol/requests/fetch/v${version}/response.js`) as {
      decode?: ((raw: Buffer) => Promise<unknown>) & { k2Named?: boolean }
    }
    const decode = response.decode
    if (typeof decode !== "function") {
      found = false
      continue
    }
    if (decode.k2Named === true) continue
    response.decode = Object.assign(async (raw: Buffer) => {
      checkFetchResponse(raw, version)
      try {
        return await decode(raw)
      } catch (e) {
        if (!(e instanceof KafkaCompressionUnsupported) || e.payload === undefined) throw e
        const at = fetchedPartitionOf(raw, version, e.payload)
        throw at === undefined ? e : e.at(fetchedFrom(at))
      }
    }, { k2Named: true })
  }
  return found
}

/**
 * Registers the decoders in kafkajs' codec table (once per process: the table is kafkajs' module
 * state), and a failing one for the codec ids Kafka does not define, which kafkajs would otherwise
 * read as uncompressed records; and wraps its Fetch decoders (`nameFetchedPartitions`). Whether
 * kafkajs' table and decoders were found as expected.
 */
export const registerKafkajsCodecs = (): boolean => {
  const table = require("kafkajs/src/protocol/message/compression/index.js") as {
    Codecs?: Record<number, () => unknown>
    Types?: Record<string, number>
  }
  const codecs = table.Codecs
  // The Fetch decoders are wrapped (CRCs checked) whatever became of the table.
  if (codecs === undefined || table.Types?.["Snappy"] !== 2 || table.Types["LZ4"] !== 3 || table.Types["ZSTD"] !== 4) {
    nameFetchedPartitions()
    return false
  }
  codecs[2] = () => kafkajsCodecs.snappy
  codecs[3] = () => kafkajsCodecs.lz4
  codecs[4] = () => kafkajsCodecs.zstd
  for (const id of [5, 6, 7]) {
    const unknown = {
      compress: async (): Promise<Buffer> => {
        throw new KafkaCompressionUnsupported(`codec id ${id}`, "Kafka defines no such codec", "", "compress with a codec Kafka defines")
      },
      decompress: async (payload: Buffer): Promise<Buffer> => {
        throw new KafkaCompressionUnsupported(
          `an unknown codec (id ${id})`,
          "Kafka defines codecs 0-4 (none, gzip, snappy, lz4, zstd) only",
          where(payload),
          "have the producer use a codec Kafka defines",
          payload
        )
      }
    }
    codecs[id] = () => unknown
  }
  return nameFetchedPartitions()
}

/**
 * What a batch that cannot be decompressed fails with (`KafkaCompressionUnsupported`, non-retriable,
 * naming the codec, where the batch is and what to do), and the decoders' own failures behind it.
 */

/**
 * A batch K2 cannot decompress. Named `KafkaJSNotImplemented` and not retriable, as kafkajs' own
 * for a codec it lacks: its fetch loop gives up at once (no retry, no restart) and the consumer
 * fails with it (KafkaRejected, the message intact).
 */
export class KafkaCompressionUnsupported extends Error {
  override readonly name = "KafkaJSNotImplemented"
  readonly retriable = false
  readonly codec: string
  readonly detail: string
  readonly where: string
  readonly fix: string
  /** The batch's compressed records, as kafkajs handed them over (a view into the fetched bytes). */
  readonly payload: Uint8Array | undefined
  constructor(codec: string, detail: string, where: string, fix: string, payload?: Uint8Array) {
    super(`records compressed with ${codec}${where} cannot be decompressed: ${detail}. Fix: ${fix}`)
    this.codec = codec
    this.detail = detail
    this.where = where
    this.fix = fix
    this.payload = payload
  }
  /** The same, naming where the batch was fetched from (`fetchedFrom`). */
  at(place: string): KafkaCompressionUnsupported {
    return new KafkaCompressionUnsupported(this.codec, this.detail, ` in ${place}${this.where}`, this.fix)
  }
}

/** The partition a fetched batch came from, as an error names it. */
export const fetchedFrom = (p: { readonly topic: string; readonly partition: number }): string => `${p.topic} partition ${p.partition}`

/** This Node.js lacks zstd. */
export class NoZstd extends Error {
  constructor() {
    super(`this Node.js (${process.version}) has no zstd`)
  }
}

/** A codec's input is not what it should be. */
export class Corrupt extends Error {}

/** What to do about a batch that is not valid `codec` data. */
export const corruptFix = (codec: string) =>
  `the batch is not valid ${codec} data as Kafka producers write it: check the producer's ${codec} library; ` +
  "the partition cannot be read past it until the batch is removed (kafka-delete-records) or the group's offset is moved past it"

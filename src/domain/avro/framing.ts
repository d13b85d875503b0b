/** Confluent framing of a Kafka value: magic byte 0, the schema id (big-endian int32), then the Avro body. */
export const MAGIC_BYTE = 0
export const FRAME_HEADER_BYTES = 5

/** The schema id of a framed value, or undefined when it is not framed. */
export const framedSchemaId = (bytes: Uint8Array): number | undefined =>
  bytes.length >= FRAME_HEADER_BYTES && bytes[0] === MAGIC_BYTE
    ? ((bytes[1]! << 24) | (bytes[2]! << 16) | (bytes[3]! << 8) | bytes[4]!) >>> 0
    : undefined

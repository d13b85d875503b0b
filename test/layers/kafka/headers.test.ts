/**
 * Record headers as each client layer turns them into a KafkaRecord's: every name arrives, also
 * those of Object.prototype members ("__proto__" assigned to a plain object sets its prototype).
 */
import { createRequire } from "node:module"
import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import type { IHeaders } from "kafkajs"
import { createRecordsBatch } from "@platformatic/kafka"
import { setEntry } from "../../../src/domain/wire.ts"
import { recordBatchBytes } from "../../../src/layers/kafka/batchBytes.ts"
import { decodeHeaders as fromKafkajs, rawHeader as rawOfKafkajs, toTopicMessages } from "../../../src/layers/kafka/kafkajsMessages.ts"
import { readBack } from "../../../src/layers/kafka/memoryRecords.ts"
import { toMessage } from "../../../src/layers/kafka/platformaticMessages.ts"
import { readRecordBatches } from "../../../src/layers/kafka/recordBatches.ts"
import { headerBytesBeside } from "../../../src/layers/kafka/textBytes.ts"
import type { ProducerRecord } from "../../../src/services/KafkaSink.ts"
import type { KafkaHeaderEntry, KafkaRecord } from "../../../src/services/KafkaSource.ts"

type RawHeaders = ReadonlyArray<readonly [Buffer | null, Buffer | null]>

/**
 * Records sent with these keys, headers and timestamps in one batch from `firstOffset`, as the
 * platformatic layer reads them (recordBatches.ts).
 */
const throughPlatformatic = (
  records: ReadonlyArray<{ readonly key?: Buffer | null; readonly headers?: RawHeaders; readonly timestamp?: bigint }>,
  firstOffset = 0n
): Array<KafkaRecord> => {
  const batch = Buffer.from(createRecordsBatch(records.map((r) => ({
    topic: "t",
    key: r.key ?? null,
    value: Buffer.from("v"),
    // A Map keyed by Buffer objects, each its own (a name given twice as one Buffer is one key): a name may repeat.
    headers: new Map((r.headers ?? []).map(([k, v]) => [k === null ? k : Buffer.from(k), v] as [Buffer, Buffer])),
    timestamp: r.timestamp ?? 1_700_000_000_000n
  })) as never).buffer)
  // The base offset is not under the CRC.
  batch.writeBigInt64BE(firstOffset, 0)
  return readRecordBatches(batch, firstOffset, [], () => batch, "t", 0).records
}
const headersOf = (headers: RawHeaders) => throughPlatformatic([{ headers }])[0]!

/** Headers decoded from their definition: the last of a name wins, a null name is skipped, a null value is "". */
const decoded = (headers: RawHeaders): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [k, v] of headers) if (k !== null) setEntry(out, k.toString("utf8"), v === null ? "" : v.toString("utf8"))
  return out
}

/** Every header with a name, in order, as `headerList` holds them: present only when a name repeats. */
const listed = (headers: RawHeaders): Array<[string, Array<number>]> | undefined => {
  const named = headers.filter(([k]) => k !== null).map(([k, v]): [string, Array<number>] => [k!.toString("utf8"), v === null ? [] : [...v]])
  return new Set(named.map(([k]) => k)).size < named.length ? named : undefined
}
const plainList = (list: ReadonlyArray<KafkaHeaderEntry> | undefined) => list?.map(([k, v]): [string, Array<number>] => [k, [...v]])

const sent: Record<string, string> = JSON.parse(
  "{\"k2-correlation-id\": \"c1\", \"__proto__\": \"p\", \"constructor\": \"c\", \"toString\": \"t\", \"hasOwnProperty\": \"h\"}"
)

/** A record with `headers` through kafkajs' own encoder and decoder: its decoded headers. */
const require = createRequire(import.meta.url)
const kafkajsHeaders = (headers: Record<string, string>) => {
  const encodeRecord = require("kafkajs/src/protocol/recordBatch/record/v0")
  const decodeRecord = require("kafkajs/src/protocol/recordBatch/record/v0/decoder")
  const Decoder = require("kafkajs/src/protocol/decoder")
  const decoder = new Decoder(encodeRecord({ key: Buffer.from("k"), value: Buffer.from("v"), headers }).buffer)
  decoder.readVarInt() // the record's length
  return decodeRecord(decoder, { firstOffset: "0", firstTimestamp: "0", magicByte: 2 }).headers
}

describe("record headers named like Object.prototype members", () => {
  it("platformatic: every header arrives, as sent", () => {
    const received = headersOf(Object.entries(sent).map(([k, v]) => [Buffer.from(k), Buffer.from(v)] as const)).headers
    assert.deepStrictEqual(Object.entries(received), Object.entries(sent))
  })

  it("kafkajs: every header arrives, as sent", () => {
    assert.deepStrictEqual(Object.entries(fromKafkajs(kafkajsHeaders(sent))), Object.entries(sent))
  })

  it("a header without value reads as the empty string in both layers", () => {
    assert.deepStrictEqual(headersOf([[Buffer.from("x"), null]]).headers, { x: "" })
    // kafkajs' decoder reads a value of length -1 as null (its encoder cannot write one).
    assert.deepStrictEqual(fromKafkajs({ x: null } as unknown as IHeaders), { x: "" })
  })
})

describe("a header name repeated in one record", () => {
  const text = Buffer.from("text")
  const binary = Buffer.from([0xff, 0xfe])

  it("the last value is the header's, and the bytes kept beside its text are that value's, in both layers", () => {
    const platformatic = headersOf([[Buffer.from("h"), binary], [Buffer.from("h"), text], [Buffer.from("g"), text], [Buffer.from("g"), binary]])
    assert.deepStrictEqual(platformatic.headers, { h: "text", g: "\ufffd\ufffd" })
    assert.deepStrictEqual(Object.keys(platformatic.headerBytes ?? {}), ["g"])
    assert.deepStrictEqual([...platformatic.headerBytes!["g"]!], [0xff, 0xfe])
    const kafkajs = { h: [binary, text], g: [text, binary] } as unknown as IHeaders
    assert.deepStrictEqual(fromKafkajs(kafkajs), { h: "text", g: "\ufffd\ufffd" })
    assert.deepStrictEqual([...rawOfKafkajs(kafkajs, "g")!], [0xff, 0xfe])
    assert.deepStrictEqual([...rawOfKafkajs(kafkajs, "h")!], [...text])
  })

  const interleaved: RawHeaders = [[Buffer.from("x-hop"), text], [Buffer.from("b"), binary], [Buffer.from("x-hop"), binary], [Buffer.from("x-hop"), null]]

  it("platformatic: every header in order, bytes as they came, beside the last values (headerList)", () => {
    const read = headersOf(interleaved)
    assert.deepStrictEqual(read.headers, { "x-hop": "", b: "\ufffd\ufffd" })
    assert.deepStrictEqual(plainList(read.headerList), [["x-hop", [...text]], ["b", [0xff, 0xfe]], ["x-hop", [0xff, 0xfe]], ["x-hop", []]])
    // Names that do not repeat: no list.
    assert.isFalse("headerList" in headersOf([[Buffer.from("a"), text], [Buffer.from("b"), binary]]))
  })

  it("memory: a record sent with every header reads back with them, in order", () => {
    const list: Array<KafkaHeaderEntry> = [["x-hop", text], ["b", binary], ["x-hop", binary]]
    const read = readBack({ topic: "t", key: "k", value: null, headers: { "x-hop": "\ufffd\ufffd", b: "\ufffd\ufffd" }, headerList: list }, 0n)
    assert.deepStrictEqual(read.headers, { "x-hop": "\ufffd\ufffd", b: "\ufffd\ufffd" })
    assert.deepStrictEqual(plainList(read.headerList), plainList(list))
    assert.deepStrictEqual([...read.headerBytes!["x-hop"]!], [...binary])
    assert.isFalse("headerList" in readBack({ topic: "t", key: "k", value: null, headers: { a: "1", b: "2" } }, 0n))
  })

  it("memory: a header name holding a lone surrogate reads back as the clients send it (U+FFFD)", () => {
    const read = readBack({ topic: "t", key: "k", value: null, headers: { "x\ud800": "1", "x\udc00": "2", y: "3" } }, 0n)
    // Both names are EF BF BD on the wire: one name, repeated.
    assert.deepStrictEqual(read.headers, { "x\ufffd": "2", y: "3" })
    assert.deepStrictEqual(plainList(read.headerList), [["x\ufffd", [0x31]], ["x\ufffd", [0x32]], ["y", [0x33]]])
  })

  describe("sent with every header", () => {
    const list: Array<KafkaHeaderEntry> = [["x-hop", text], ["b", binary], ["x-hop", binary]]
    const record: ProducerRecord = { topic: "t", key: "k", value: null, headers: { "x-hop": "\ufffd\ufffd", b: "\ufffd\ufffd" }, headerList: list }

    it("platformatic: each header in order", () => {
      const headers = toMessage(record).headers!
      assert.deepStrictEqual([...headers].map(([k, v]) => [k.toString("utf8"), [...v]]), plainList(list))
      // What the broker gets: read back, the same list.
      const batch = Buffer.from(createRecordsBatch([{ ...toMessage(record), value: Buffer.from("v") }] as never).buffer)
      const read = readRecordBatches(batch, 0n, [], () => batch, "t", 0).records[0]!
      assert.deepStrictEqual(plainList(read.headerList), plainList(list))
      // Its size as the sinks cut sends by it.
      assert.strictEqual(recordBatchBytes({ ...record, value: Buffer.from("v") }), batch.length)
    })

    it("kafkajs: each name's values in order, at the name's first place (kafkajs takes headers as an object)", () => {
      const [{ messages: [m] }] = toTopicMessages([record]) as unknown as [{ messages: [{ headers: Record<string, Buffer | Array<Buffer>> }] }]
      assert.deepStrictEqual(Object.keys(m.headers), ["x-hop", "b"])
      assert.deepStrictEqual((m.headers["x-hop"] as Array<Buffer>).map((v) => [...v]), [[...text], [...binary]])
      assert.deepStrictEqual([...(m.headers.b as Buffer)], [...binary])
    })
  })

  it("only header values that lost bytes in decoding carry them beside their text", () => {
    assert.deepStrictEqual(Object.keys(headersOf([[Buffer.from("a"), text], [Buffer.from("b"), binary]]).headerBytes ?? {}), ["b"])
    assert.isUndefined(headersOf([[Buffer.from("a"), text]]).headerBytes)
    const kafkajs = { a: text, b: binary } as unknown as IHeaders
    assert.deepStrictEqual(Object.keys(headerBytesBeside(fromKafkajs(kafkajs), kafkajs, rawOfKafkajs) ?? {}), ["b"])
  })
})

describe("platformatic: keys and headers shared with the previous record", () => {
  const bytes = fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b))
  const raw = fc.constantFrom(Buffer.from("k2-schema-id"), Buffer.from("k2-correlation-id"), Buffer.from("x"))
  const headers = fc.array(fc.tuple(fc.option(raw, { nil: null }), fc.option(fc.oneof(bytes, raw), { nil: null })), { maxLength: 3 })
  // Records alike (the same bytes), or apart by a byte.
  const record = fc.tuple(fc.option(fc.oneof(bytes, raw), { nil: null }), headers)

  it("read as each record's own key and headers, whatever came before", () => {
    fc.assert(fc.property(fc.array(record, { minLength: 1, maxLength: 30 }), (records) => {
      const read = throughPlatformatic(records.map(([key, headers]) => ({ key, headers })))
      records.forEach(([key, hs], i) => {
        assert.deepStrictEqual(read[i]!.key, key === null ? null : key.toString("utf8"))
        assert.deepStrictEqual(read[i]!.headers, decoded(hs))
        assert.deepStrictEqual(plainList(read[i]!.headerList), listed(hs))
      })
    }))
  })

  it("a record with the previous record's header bytes shares its decoded headers", () => {
    const schema = (id: string) => ({ headers: [[Buffer.from("k2-schema-id"), Buffer.from(id)]] as const })
    const [first, second, third] = throughPlatformatic([schema("1"), schema("1"), schema("2")])
    assert.strictEqual(second!.headers, first!.headers)
    assert.deepStrictEqual(third!.headers, { "k2-schema-id": "2" })
  })
})

describe("platformatic: a record's offset and timestamp from its batch's", () => {
  const int64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })

  it("are the exact sums, also beyond 2^53", () => {
    fc.assert(fc.property(
      fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 63n - 10n }), fc.bigInt({ min: 0n, max: 2n ** 53n })),
      int64,
      // platformatic's encoder writes a timestamp delta beyond 32 bits wrong: the first timestamp carries the size.
      fc.array(fc.bigInt({ min: -(2n ** 30n), max: 2n ** 30n }), { maxLength: 4 }),
      (first, firstTimestamp, deltas) => {
        const timestamps = [firstTimestamp, ...deltas.map((d) => firstTimestamp + d)]
        fc.pre(timestamps.every((t) => t >= -(2n ** 63n) && t < 2n ** 63n))
        const read = throughPlatformatic(timestamps.map((timestamp) => ({ timestamp })), first)
        assert.deepStrictEqual(read.map((r) => r.offset), timestamps.map((_, i) => first + BigInt(i)))
        assert.deepStrictEqual(read.map((r) => r.timestamp), timestamps.map((t) => Number(t)))
      }
    ))
    const [a, b] = throughPlatformatic([{ timestamp: 2n ** 53n + 1n }, { timestamp: 2n ** 53n - 1n }], 2n ** 53n - 1n)
    assert.deepStrictEqual([a!.offset, b!.offset], [2n ** 53n - 1n, 2n ** 53n])
    assert.deepStrictEqual([a!.timestamp, b!.timestamp], [2 ** 53, 2 ** 53 - 1])
  })
})

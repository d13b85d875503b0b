/**
 * The heap one decoded manifest entry holds (what the scanner's cache weighs by the entry; its
 * bound in docs/api.md, "Caching"): `node --expose-gc bench/manifestEntryHeap.ts <manifest.avro>`,
 * e.g. a day's merged manifest under `warehouse/market_data/trades/metadata/`.
 */
import { readFileSync } from "node:fs"
import { decodeManifestSync } from "../src/layers/iceberg/manifests.ts"

const file = process.argv[2]
const gc = (globalThis as { gc?: () => void }).gc
if (file === undefined || gc === undefined) {
  console.error("usage: node --expose-gc bench/manifestEntryHeap.ts <manifest.avro>")
  process.exit(2)
}
const bytes = readFileSync(file)
const copies = 200
const kept: Array<unknown> = []
gc()
const before = process.memoryUsage()
let entries = 0
for (let i = 0; i < copies; i++) {
  const decoded = decodeManifestSync(new Uint8Array(bytes), file)
  entries += decoded.length
  kept.push(decoded)
}
gc()
const after = process.memoryUsage()
const perEntry = (after.heapUsed - before.heapUsed + after.arrayBuffers - before.arrayBuffers) / entries
console.log(`${file}: ${bytes.length} bytes, ${entries / copies} entries; ${perEntry.toFixed(0)} bytes of heap an entry (${kept.length} copies held)`)

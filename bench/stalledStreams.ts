/**
 * The heap a stalled stream holds in `serve` (docs/api.md, "Limits"): N clients send the request,
 * read the response head, then stop reading and stay connected. Heap is `k2_process_heap_used_bytes`
 * after a full GC, forced by the heap snapshot SIGUSR2 asks for (it writes `Heap.*.heapsnapshot` in
 * serve's working directory, the repo root: delete them after), before the clients and 8 s after.
 *
 *   K2_API_AUTH=off NODE_OPTIONS=--heapsnapshot-signal=SIGUSR2 npm run serve -- --port 8080   # over `npm run ingest`'s warehouse
 *   npm exec -- node --disable-warning=ExperimentalWarning bench/stalledStreams.ts <serve's node pid> 8080 '/v1/replay?from=2024-01-02&to=2024-01-03' [4]
 *
 * Paths measured: that replay (NDJSON), with `&format=sse`, and `/v1/trades?from=2024-01-02&to=2024-01-03&format=csv`.
 */
import * as net from "node:net"

const [pidText, portText, path, clientsText = "4"] = process.argv.slice(2)
const pid = Number(pidText), port = Number(portText), clients = Number(clientsText)
if (path === undefined || !Number.isInteger(pid) || !Number.isInteger(port) || !Number.isInteger(clients) || clients < 1) {
  console.error("usage: npm exec -- node bench/stalledStreams.ts <serve pid> <port> <path> [clients]")
  process.exit(2)
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const heapMB = async () => {
  process.kill(pid, "SIGUSR2")
  await sleep(6_000) // the snapshot (and its full GC) done
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
  const match = /^k2_process_heap_used_bytes (\S+)/m.exec(text)
  if (match === null) throw new Error("no k2_process_heap_used_bytes in /metrics (K2_API_METRICS_REQUIRE_KEY?)")
  return Number(match[1]) / 1e6
}

const before = await heapMB()
const sockets = Array.from({ length: clients }, () => {
  const socket = net.connect(port, "127.0.0.1", () => socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`))
  socket.once("data", () => socket.pause())
  return socket
})
await sleep(8_000)
const after = await heapMB()
console.log(`${clients} stalled on ${path}: heap ${before.toFixed(1)} -> ${after.toFixed(1)} MB, ${((after - before) / clients).toFixed(1)} MB each`)
for (const socket of sockets) socket.destroy()

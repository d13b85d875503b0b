/** What `produce` says when a run ends: its last line, and the warning of records sent again. */
import type { PublishedCounts } from "../../layers/produce/publisher.ts"
import type { FeedSummary } from "../../services/MarketFeed.ts"

const counted = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`

/**
 * The run's last line: what was read, published and dead-lettered, and where the reports are. Dead
 * letters (ASX) are named by kind, so that read = trades + quotes + the rows among them, and by file.
 */
export const finalLine = (
  summary: FeedSummary,
  totals: PublishedCounts,
  files: { readonly reconciliation: string; readonly deadLetters?: string }
): string => {
  const d = summary.deadLetters
  const kinds = [
    d.rows > 0 ? counted(d.rows, "row") : "",
    d.companyInfo > 0 ? counted(d.companyInfo, "company_info row") : "",
    d.files > 0 ? counted(d.files, "file") : ""
  ].filter((k) => k !== "")
  const where = summary.deadLettered > 0 && files.deadLetters !== undefined ? ` (${kinds.join(", ")}) in ${files.deadLetters}` : ""
  return `read ${summary.rowsRead}, published instruments ${totals.instruments}, trades ${totals.trades}, quotes ${totals.quotes}, ` +
    `poison ${totals.poison}, dead-lettered ${summary.deadLettered}${where}; reconciliation in ${files.reconciliation}`
}

/**
 * Records sent again after failed sends, and whether the topics may hold them twice: kafkajs resends
 * a failed request under the same producer id and sequence numbers (the broker drops a batch it
 * already wrote), but a request of the send already acknowledged under new ones; platformatic,
 * after a failed send, all of it under a new id (its own retries inside a send keep them).
 */
export const resentWarning = (resent: number, client: string) =>
  `${counted(resent, "record")} sent again after failed sends (Kafka unreachable for longer than the client's own retries): ` +
  (client === "kafkajs"
    ? "kafkajs resends a failed request under the same producer id and sequence numbers (the broker keeps one copy), " +
      "but the records of a request of the send Kafka had acknowledged (partitions led by another broker, a send cut under max.message.bytes) are in the topics twice"
    : "platformatic resends under a new producer id, so any a failed attempt had written are in the topics twice") +
  " (ingest drops them as DUPLICATEs; `published` counts each once)"

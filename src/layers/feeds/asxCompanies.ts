/** The instrument master, reference-data/company_info.csv: its companies, and the company ids of its rejected rows. */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import {
  COMPANY_INFO_FILE,
  type CompanyRow,
  csvRecords,
  isCompanyInfoHeader,
  isEmptyRecord,
  parseCompanyRow,
  splitCsv
} from "../../domain/feeds/asx.ts"
import { FeedError, SourceInvalid, type SummaryCounter } from "../../domain/feeds/events.ts"
import type { DeadLetterWriter } from "./asxDeadLetters.ts"
import { INVALID_UTF8, REPLACEMENT, utf16Text } from "./asxEncoding.ts"
import { guard } from "./asxIoErrors.ts"

/**
 * Reads the instrument master: company id -> instrument (bad rows dead-lettered), and the
 * company ids of rejected rows -> the row's line, so that their files say why they are rejected.
 */
export const readCompanies = async (dir: string, counter: SummaryCounter, dead: DeadLetterWriter) => {
  const file = path.join(dir, COMPANY_INFO_FILE)
  const bytes = await guard(file, () => fs.readFile(file))
  const notText = utf16Text(bytes)
  if (notText !== undefined) throw new FeedError({ reason: new SourceInvalid({ path: file, detail: notText }) })
  const text = new TextDecoder("utf-8").decode(bytes)
  // Records, not lines: a quoted company name may hold a line break.
  const records = csvRecords(text)
  if (records.length === 0 || !isCompanyInfoHeader(records[0]!.text)) {
    throw new FeedError({
      reason: new SourceInvalid({ path: file, detail: "the first line is not the header company_id,symbol,company_name,ISIN,start_date,end_date" })
    })
  }
  const companies = new Map<string, CompanyRow>()
  const rejected = new Map<string, number>()
  for (let i = 1; i < records.length; i++) {
    const { line, text: raw } = records[i]!
    if (isEmptyRecord(raw)) continue // a blank line, or an emptied spreadsheet row (`,,,,,`)
    const row = raw.includes(REPLACEMENT) ? INVALID_UTF8 : parseCompanyRow(raw)
    const reason = typeof row === "string"
      ? row
      : companies.has(row.companyId)
      ? `duplicate company_id ${row.companyId}`
      : undefined
    if (reason !== undefined || typeof row === "string") {
      counter.deadLetters.companyInfo++
      dead.add({ file: COMPANY_INFO_FILE, line, reason: reason!, raw })
      const id = splitCsv(raw)[0]!.trim()
      if (id !== "" && !rejected.has(id)) rejected.set(id, line)
    } else {
      companies.set(row.companyId, row)
    }
  }
  return { companies, rejected }
}

/** The order companies are read in: their files by numeric id, their instruments current listing last. */
import type { CompanyRow } from "../../domain/feeds/asx.ts"

/** Company ids in numeric order (9 before 10), the order their files are read in. */
export const byNumericId = (a: string, b: string) => a.localeCompare(b, "en", { numeric: true })

/**
 * Every company, each symbol's current listing after the others naming it: the latest listed
 * (start_date; of equal or no dates, the higher company id, whose rows are read last). Readers of
 * the instruments topic and table keep the last published per (exchange, symbol); in company_info's
 * row order, an old listing (BHP Billiton) could come last and pass for the current one.
 */
export const instrumentOrder = (companies: ReadonlyMap<string, CompanyRow>): Array<CompanyRow> => {
  const listedLater = (a: CompanyRow, b: CompanyRow) => {
    const x = a.instrument.listing_date ?? "", y = b.instrument.listing_date ?? ""
    return x !== y ? x > y : byNumericId(a.companyId, b.companyId) > 0
  }
  const bySymbol = new Map<string, CompanyRow>()
  for (const c of companies.values()) {
    const held = bySymbol.get(c.instrument.symbol)
    if (held === undefined || listedLater(c, held)) bySymbol.set(c.instrument.symbol, c)
  }
  const current = new Set(bySymbol.values())
  return [...[...companies.values()].filter((c) => !current.has(c)), ...current]
}

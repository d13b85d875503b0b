import { assert, describe, it } from "@effect/vitest"
import { BigDecimal, Result, Schema } from "effect"
import {
  asxFile,
  csvRecords,
  isCompanyInfoHeader,
  parseCompanyRow,
  parseQuoteRow,
  parseTradeRow,
  splitCsv
} from "../../../src/domain/feeds/asx.ts"
import { decodeQuote, decodeTrade, Quote, Trade } from "../../../src/domain/marketData.ts"
import { makeWireCodec } from "../../../src/domain/avro/codec.ts"
import { SummaryCounter } from "../../../src/domain/feeds/events.ts"

const trades = asxFile("trades", "1001", "BHP")
const quotes = asxFile("quotes", "1001", "BHP")

const trade = (line: string, lineNo = 1, seq = 1n): Trade => {
  const t = parseTradeRow(trades, line, lineNo, seq)
  if (typeof t === "string") throw new Error(t)
  return t
}
const rejected = (line: string): string => {
  const t = parseTradeRow(trades, line, 1, 1n)
  assert.isTrue(typeof t === "string", `expected ${line} to be rejected`)
  return t as string
}

describe("ASX trade rows", () => {
  it("maps a row into the domain", () => {
    const t = trade("03/10/2014,10:05:44.516,37.51,40000,0,,", 7, 3n)
    assert.strictEqual(t.message_id, "asx:trades/1001.csv:7")
    assert.strictEqual(t.trade_id, "1001-7")
    assert.strictEqual(t.symbol, "BHP")
    assert.strictEqual(t.exchange, "ASX")
    assert.strictEqual(t.asset_class, "equities")
    assert.strictEqual(t.currency, "AUD")
    assert.strictEqual(t.side, "UNKNOWN")
    assert.strictEqual(t.source_sequence, 3n)
    assert.deepStrictEqual(t.conditions, ["0"])
    assert.deepStrictEqual(t.vendor_data, { company_id: "1001", qualifiers: "0" })
    assert.isTrue(BigDecimal.equals(t.price, BigDecimal.fromStringUnsafe("37.51")))
    assert.isTrue(BigDecimal.equals(t.quantity, BigDecimal.fromStringUnsafe("40000")))
    // 10:05:44.516 AEDT (+11:00)
    assert.strictEqual(t.exchange_timestamp, Date.UTC(2014, 2, 9, 23, 5, 44, 516) * 1000)
  })

  it("keeps venue and buyer id in vendor_data", () => {
    const t = trade("04/07/2014,10:00:00.000,37.70,500,3,NXT,12345")
    assert.deepStrictEqual(t.vendor_data, { company_id: "1001", qualifiers: "3", venue: "NXT", buyer_id: "12345" })
    assert.deepStrictEqual(t.conditions, ["3"])
  })

  it("tolerates CRLF line ends", () => {
    assert.strictEqual(trade("03/10/2014,10:05:44.516,37.51,40000,0,,\r").exchange_timestamp, trade("03/10/2014,10:05:44.516,37.51,40000,0,,").exchange_timestamp)
  })

  it("rejects bad rows with a reason", () => {
    assert.match(rejected("04/07/2014,10:00:01.000,37.70,500"), /expected 7 columns, found 4/)
    assert.match(rejected("04/07/2014,10:00:02.000,-37.70,500,0,,"), /negative price/)
    assert.match(rejected("04/07/2014,10:00:02.000,0,500,0,,"), /price must be greater than 0/)
    assert.match(rejected("04/07/2014,10:00:03.000,37.7x,500,0,,"), /price "37.7x" is not a decimal/)
    assert.match(rejected("04/07/2014,10:00:03.000,1.123456789,500,0,,"), /price/)
    assert.match(rejected("04/07/2014,10:00:03.000,37.70,12.5,0,,"), /volume "12.5" is not an integer/)
    assert.match(rejected("04/07/2014,10:00:03.000,37.70,0,0,,"), /volume must be greater than 0/)
    assert.match(rejected("04/07/2014,10:00:03.000,37.70,-5,0,,"), /negative volume/)
    assert.match(rejected("04/07/2014,10:00:03.000,37.70,5,X,,"), /qualifiers/)
    assert.match(rejected("13/07/2014,10:00:04.000,37.70,500,0,,"), /date "13\/07\/2014" does not exist/)
    assert.match(rejected("02/30/2014,10:00:04.000,37.70,500,0,,"), /does not exist/)
    assert.match(rejected("2014-07-04,10:00:04.000,37.70,500,0,,"), /not MM\/DD\/YYYY/)
    assert.match(rejected("04/07/2014,25:00:00.000,37.70,500,0,,"), /not a valid time/)
    assert.match(rejected("04/07/2014,10:00,37.70,500,0,,"), /not HH:MM:SS/)
    assert.match(rejected("04/07/2014,10:00:00.1234567890,37.70,500,0,,"), /not HH:MM:SS/)
    assert.match(rejected("04/07/2014,10:00:00.1234567x9,37.70,500,0,,"), /not a valid time/)
    assert.match(rejected("04/07/2014,10:00:03.000,37.70,-0,0,,"), /volume must be greater than 0/)
  })

  // Nanosecond times were rejected, though the wire's Timestamp reads up to 9 digits and truncates.
  it("truncates digits past the microsecond", () => {
    assert.strictEqual(
      trade("03/10/2014,10:05:44.516999999,37.51,40000,0,,").exchange_timestamp,
      Date.UTC(2014, 2, 9, 23, 5, 44, 516) * 1000 + 999
    )
    assert.strictEqual(
      trade("03/10/2014,10:05:44.1234567,37.51,40000,0,,").exchange_timestamp,
      Date.UTC(2014, 2, 9, 23, 5, 44, 123) * 1000 + 456
    )
  })
  // Trailing blanks (padded exports) were kept as the last field: buyer_id " ".
  it("does not read trailing blanks as part of the last field", () => {
    assert.deepStrictEqual(trade("03/10/2014,10:05:44.516,37.51,40000,0,, \t").vendor_data, { company_id: "1001", qualifiers: "0" })
    assert.deepStrictEqual(trade("03/10/2014,10:05:44.516,37.51,40000,0,NXT,12345  \r").vendor_data.buyer_id, "12345")
  })

  // Spaces after the commas (`03/10/2014, 10:05:44.516, 37.51`, as some exports write) made a bad row:
  // 'time " 10:05:44.516" is not HH:MM:SS.mmm', while header lines and company_info allow them.
  it("drops spaces and tabs around each field, quoted or not; the values are exactly those of the bare row", () => {
    const bare = trade("03/10/2014,10:05:44.516,37.51,40000,0,NXT,12345")
    for (const line of [
      "03/10/2014, 10:05:44.516, 37.51, 40000, 0, NXT, 12345",
      " 03/10/2014 ,\t10:05:44.516\t,  37.51  ,40000 , 0,NXT , 12345 ",
      `"03/10/2014", "10:05:44.516", " 37.51 ", "40000" , "0", " NXT", "12345"`
    ]) {
      const t = trade(line)
      assert.deepStrictEqual(Schema.encodeSync(Trade)(t), Schema.encodeSync(Trade)(bare), line)
      assert.strictEqual(BigDecimal.format(t.price), "37.51")
      assert.strictEqual(t.price.scale, 2)
    }
    assert.deepStrictEqual(trade("03/10/2014, 10:05:44.516, 37.51, 40000, , , ").vendor_data, { company_id: "1001", qualifiers: "" })
    const q = parseQuoteRow(quotes, "03/10/2014, 10:05:44.516, 37.50, 37.52, 100, 200", 1, 1n)
    assert.isTrue(typeof q !== "string", String(q))
    const bareQuote = parseQuoteRow(quotes, "03/10/2014,10:05:44.516,37.50,37.52,100,200", 1, 1n)
    assert.deepStrictEqual(Schema.encodeSync(Quote)(q as Quote), Schema.encodeSync(Quote)(bareQuote as Quote))
    // A space inside a value is not around it: still a bad row.
    assert.match(rejected("03/10/2014,10:05:44.516,37 .51,40000,0,,"), /price "37 .51" is not a decimal/)
    assert.match(rejected("03/10/2014,10: 05:44.516,37.51,40000,0,,"), /time/)
  })

  // A row quoting its fields (as RFC 4180 allows) was rejected ("date ""03/10/2014"" is not MM/DD/YYYY"),
  // and a quoted comma was counted as a separator.
  it("reads quoted fields; an unclosed quote is named as the reason", () => {
    const t = trade(`"03/10/2014","10:05:44.516","37.51","40000","0","N""X,T",""`)
    assert.strictEqual(t.exchange_timestamp, trade("03/10/2014,10:05:44.516,37.51,40000,0,,").exchange_timestamp)
    assert.deepStrictEqual(t.vendor_data, { company_id: "1001", qualifiers: "0", venue: `N"X,T` })
    assert.match(rejected(`03/10/2014,10:05:44.516,37.51,"40,000",0,,`), /volume "40,000" is not an integer/)
    assert.match(rejected(`03/10/2014,10:05:44.516,37.51,40000,0,"NX`), /unclosed quote/)
    assert.match(rejected(`T",`), /unclosed quote/)
  })
})

describe("ASX quote rows", () => {
  const quote = (line: string): Quote => {
    const q = parseQuoteRow(quotes, line, 2, 1n)
    if (typeof q === "string") throw new Error(q)
    return q
  }
  it("keeps zero asks before the open and crossed quotes", () => {
    const preOpen = quote("03/10/2014,09:59:00.000,37.40,0,1000,0")
    assert.isTrue(BigDecimal.isZero(preOpen.ask_price))
    const crossed = quote("03/10/2014,10:00:01.250,37.55,37.53,100,200")
    assert.isTrue(BigDecimal.isGreaterThan(crossed.bid_price, crossed.ask_price))
    assert.strictEqual(crossed.message_id, "asx:quotes/1001.csv:2")
    assert.strictEqual(crossed.exchange_timestamp, Date.UTC(2014, 2, 9, 23, 0, 1, 250) * 1000)
  })
  it("rejects negative prices and sizes and wrong column counts", () => {
    assert.match(parseQuoteRow(quotes, "03/10/2014,10:00:02.000,37.50,-1,100,200", 1, 1n) as string, /negative ask/)
    assert.match(parseQuoteRow(quotes, "03/10/2014,10:00:02.000,37.50,37.6,-100,200", 1, 1n) as string, /negative bid volume/)
    assert.match(parseQuoteRow(quotes, "03/10/2014,10:00:02.000,37.50,37.52,100", 1, 1n) as string, /expected 6 columns/)
  })
  // "-0" was rejected as a negative size, though decodeQuote reads it as the zero a quote may hold.
  it("refuses an hour of 24 and dates before 1901 (their instants could fall before 1900); a row without qualifiers has no conditions", () => {
    assert.match(rejected("03/10/2014,24:00:00.000,37.51,40000,0,,"), /not a valid time of day/)
    assert.match(rejected("01/01/1900,10:05:44.516,37.51,40000,0,,"), /outside 1901..2198/)
    assert.deepStrictEqual(trade("03/10/2014,10:05:44.516,37.51,40000,,,").conditions, [])
  })

  it("reads a size of -0 as 0", () => {
    const q = quote("03/10/2014,09:59:00.000,37.40,37.50,-0,-00")
    assert.deepStrictEqual([Schema.encodeSync(Quote)(q).bid_size, Schema.encodeSync(Quote)(q).ask_size], ["0", "0"])
  })
})

/** The wire form of a trade row, derived independently of the fast path (offset given by hand). */
const tradeWire = (line: string, lineNo: number, offset: string) => {
  const [date, time, price, volume, qualifiers, venue, buyer] = line.split(",") as [string, string, string, string, string, string, string]
  const [mm, dd, yyyy] = date.split("/")
  const vendor: Record<string, string> = { company_id: "1001", qualifiers }
  if (venue) vendor.venue = venue
  if (buyer) vendor.buyer_id = buyer
  return {
    message_id: `asx:trades/1001.csv:${lineNo}`,
    trade_id: `1001-${lineNo}`,
    symbol: "BHP",
    exchange: "ASX",
    asset_class: "equities",
    exchange_timestamp: `${yyyy}-${mm}-${dd}T${time}${offset}`,
    price,
    quantity: volume,
    currency: "AUD",
    side: "UNKNOWN",
    conditions: qualifiers ? [qualifiers] : [],
    source_sequence: String(lineNo),
    vendor_data: vendor
  }
}

describe("fast path = Schema decode", () => {
  const rows: Array<[string, string]> = [
    ["03/10/2014,10:05:44.516,37.51,40000,0,,", "+11:00"],
    ["04/04/2014,15:59:59.999,0.001,1,0,,", "+11:00"],
    ["04/07/2014,10:00:00.000,37.70,500,3,NXT,12345", "+10:00"],
    ["10/06/2014,10:00:00.000,1234567890.12345678,9999999999,0,,", "+11:00"],
    ["06/30/2014,16:10:00.5,0.00000001,1,13,,", "+10:00"],
    ["06/30/2014,16:10:00.123456789,1,1,0,,", "+10:00"]
  ]
  it("builds the same trade decodeTrade builds from the row's wire form", () => {
    rows.forEach(([line, offset], i) => {
      const fast = trade(line, i + 1, BigInt(i + 1))
      const wire = tradeWire(line, i + 1, offset)
      const decoded = Result.getOrThrow(decodeTrade(wire))
      assert.deepStrictEqual(Schema.encodeSync(Trade)(fast), Schema.encodeSync(Trade)(decoded))
      assert.isTrue(BigDecimal.equals(fast.price, decoded.price))
      assert.isTrue(BigDecimal.equals(fast.quantity, decoded.quantity))
      assert.strictEqual(fast.exchange_timestamp, decoded.exchange_timestamp)
      // and the fast path's output is itself valid
      assert.isTrue(Result.isSuccess(decodeTrade(Schema.encodeSync(Trade)(fast))))
    })
  })

  it("rejects what decodeTrade rejects", () => {
    for (const price of ["-1", "0", "0.000", "abc", "1.123456789", "12345678901"]) {
      const line = `03/10/2014,10:05:44.516,${price},10,0,,`
      assert.isTrue(typeof parseTradeRow(trades, line, 1, 1n) === "string", price)
      assert.isTrue(Result.isFailure(decodeTrade(tradeWire(line, 1, "+11:00"))), price)
    }
  })

  it("rejects what decodeTrade rejects in volumes", () => {
    for (const volume of ["-1", "0", "-0", "abc"]) {
      const line = `03/10/2014,10:05:44.516,1,${volume},0,,`
      assert.isTrue(typeof parseTradeRow(trades, line, 1, 1n) === "string", volume)
      assert.isTrue(Result.isFailure(decodeTrade(tradeWire(line, 1, "+11:00"))), volume)
    }
  })

  it("builds quotes that decodeQuote accepts unchanged", () => {
    for (const line of ["03/10/2014,09:59:00.000,37.40,0,1000,0", "03/10/2014,10:00:01.250,37.55,37.53,100,200"]) {
      const q = parseQuoteRow(quotes, line, 1, 1n) as Quote
      const again = Result.getOrThrow(decodeQuote(Schema.encodeSync(Quote)(q)))
      assert.deepStrictEqual(Schema.encodeSync(Quote)(again), Schema.encodeSync(Quote)(q))
    }
  })

  it("builds the quote decodeQuote builds from sizes of -0", () => {
    const q = parseQuoteRow(quotes, "03/10/2014,09:59:00.000,37.40,0,-0,-0", 1, 1n)
    assert.isTrue(typeof q !== "string", String(q))
    const wire = { ...Schema.encodeSync(Quote)(q as Quote), bid_size: "-0", ask_size: "-0" }
    assert.deepStrictEqual(Schema.encodeSync(Quote)(Result.getOrThrow(decodeQuote(wire))), Schema.encodeSync(Quote)(q as Quote))
  })
})

describe("company_info.csv", () => {
  it("recognises the header and splits quoted names", () => {
    assert.isTrue(isCompanyInfoHeader("company_id,symbol,company_name,ISIN,start_date,end_date\r"))
    assert.isFalse(isCompanyInfoHeader("1001,BHP,BHP,AU000000BHP4,01/01/2000,"))
    assert.deepStrictEqual(splitCsv(`1002,CBA,"COMMONWEALTH BANK, THE ""CBA""",X,,`), [
      "1002", "CBA", `COMMONWEALTH BANK, THE "CBA"`, "X", "", ""
    ])
  })
  it("reads records across line breaks inside quotes, and every line ending", () => {
    assert.deepStrictEqual(csvRecords(`h\r\n1,"A\r\nB ""x"", C",2\r3,"open\n4\n`), [
      { line: 1, text: "h" },
      { line: 2, text: `1,"A\nB ""x"", C",2` },
      { line: 4, text: "3,\"open" }, // never closed: this line alone
      { line: 5, text: "4" }
    ])
    assert.deepStrictEqual(csvRecords(""), [{ line: 1, text: "" }])
  })
  it("maps a row to an instrument with ISO dates", () => {
    const r = parseCompanyRow(`1002,CBA,"COMMONWEALTH BANK OF AUSTRALIA, THE",AU000000CBA7,09/12/1991,12/31/2099`)
    assert.isTrue(typeof r !== "string")
    if (typeof r === "string") return
    assert.strictEqual(r.companyId, "1002")
    assert.deepStrictEqual(r.instrument, {
      symbol: "CBA",
      exchange: "ASX",
      company_id: "1002",
      name: "COMMONWEALTH BANK OF AUSTRALIA, THE",
      isin: "AU000000CBA7",
      currency: "AUD",
      asset_class: "equities",
      listing_date: "1991-09-12",
      delisting_date: "2099-12-31"
    })
  })
  // BHP listed in 1885: the row was rejected ("date does not exist"), and with it every trade and
  // quote file of the company. The 1901..2198 bound is for instants, not for listing dates.
  it("keeps listing dates before 1901", () => {
    const r = parseCompanyRow("1001,BHP,BHP GROUP LIMITED,AU000000BHP4,08/13/1885,")
    assert.isTrue(typeof r !== "string", String(r))
    if (typeof r === "string") return
    assert.strictEqual(r.instrument.listing_date, "1885-08-13")
    // A trade of that day is still refused, as an instant out of range, not as a date that does not exist.
    assert.match(rejected("08/13/1885,10:00:00.000,37.70,500,0,,"), /outside/)
    assert.match(parseCompanyRow("1003,XYZ,Broken,,02/29/1885,") as string, /does not exist/)
  })

  // 12/31/9999 is the usual "no end date" of an instrument master: the row was refused ("must be a
  // date yyyy-mm-dd": dates were checked as instants, which a safe integer of microseconds holds only
  // to 2255), and with it every trade and quote file of the company. Years before 1000 came out
  // unpadded ("999-01-01"), refused the same way.
  it("keeps an open-ended end_date of 12/31/9999, and any four-digit year, on the wire and back", () => {
    const r = parseCompanyRow("1001,BHP,BHP GROUP LIMITED,AU000000BHP4,01/02/0999,12/31/9999")
    assert.isTrue(typeof r !== "string", String(r))
    if (typeof r === "string") return
    assert.strictEqual(r.instrument.listing_date, "0999-01-02")
    assert.strictEqual(r.instrument.delisting_date, "9999-12-31")
    const codec = makeWireCodec()
    const back = codec.decode(codec.encodeInstrument(r.instrument))
    assert.isTrue(Result.isSuccess(back), String(Result.isFailure(back) && back.failure))
    if (Result.isSuccess(back)) assert.deepStrictEqual(back.success.value, r.instrument)
    assert.match(parseCompanyRow("1003,XYZ,Broken,,02/29/9999,") as string, /does not exist/)
  })

  it("rejects bad rows", () => {
    assert.match(parseCompanyRow("1003,XYZ,Broken,NOT-AN-ISIN,01/01/2000,") as string, /isin/)
    assert.match(parseCompanyRow("1003,xyz,Broken,,01/01/2000,") as string, /symbol/)
    assert.match(parseCompanyRow("1003,XYZ,Broken,,13/01/2000,") as string, /start_date/)
    assert.match(parseCompanyRow("1003,XYZ") as string, /expected 6 columns/)
    assert.match(parseCompanyRow(" ,XYZ,Broken,,01/01/2000,") as string, /company_id is empty/)
  })

  // Dates swapped between the columns were published as a listing that ended before it began, and its
  // start_date (the later one) made it pass for the symbol's current listing, placed last.
  it("rejects an end_date before its start_date; the same day is a listing of one day", () => {
    assert.strictEqual(
      parseCompanyRow("1003,XYZ,Swapped,,06/30/2022,01/04/1999"),
      "end_date 01/04/1999 is before start_date 06/30/2022"
    )
    const r = parseCompanyRow("1003,XYZ,One day,,06/30/2022,06/30/2022")
    assert.isTrue(typeof r !== "string", String(r))
    assert.isTrue(typeof parseCompanyRow("1003,XYZ,Open,,06/30/2022,12/31/9999") !== "string")
  })

  it("refuses a company id too long for its rows' message ids; the longest taken gives ids decodeTrade takes", () => {
    // Taken, every row of the company was published, and ingest dead-lettered each one (message_id over 256).
    const long = "9".repeat(241)
    assert.match(parseCompanyRow(`${long},XYZ,Long,,01/01/2000,`) as string, /company_id .* longer than 224 characters/)
    const longest = "9".repeat(224)
    assert.isTrue(typeof parseCompanyRow(`${longest},XYZ,Long,,01/01/2000,`) !== "string")
    for (const dataType of ["trades", "quotes"] as const) {
      const f = asxFile(dataType, longest, "XYZ")
      const row = dataType === "trades"
        ? parseTradeRow(f, "03/10/2014,10:05:44.516,37.51,40000,0,,", Number.MAX_SAFE_INTEGER, 1n) as Trade
        : parseQuoteRow(f, "03/10/2014,10:00:01.250,37.55,37.53,100,200", Number.MAX_SAFE_INTEGER, 1n) as Quote
      const decoded = dataType === "trades"
        ? Result.isSuccess(decodeTrade(Schema.encodeSync(Trade)(row as Trade)))
        : Result.isSuccess(decodeQuote(Schema.encodeSync(Quote)(row as Quote)))
      assert.isTrue(decoded, `${dataType}: ${row.message_id.length} characters`)
    }
  })
})

describe("a rejected row's reason", () => {
  it("names a long cell by its start: the dead letter keeps the row itself", () => {
    const cell = "9".repeat(60_000)
    for (const line of [`01/02/2024,10:00:00.000,${cell}.5,100,0,X,1`, `01/02/2024,10:00:00.000,1.5,${cell}x,0,X,1`, `01/02/2024,10:00:00.000,1.5,100,${cell}x,X,1`]) {
      const reason = parseTradeRow(trades, line, 1, 1n)
      assert.isString(reason)
      assert.include(reason as string, "9".repeat(40))
      assert.isBelow((reason as string).length, 200, (reason as string).slice(0, 300))
    }
  })
})

describe("a load's summary", () => {
  it("is a snapshot: dead letters counted after it do not change it", () => {
    const counter = new SummaryCounter("asx")
    counter.deadLetters.rows++
    const before = counter.snapshot()
    counter.deadLetters.rows++
    counter.deadLetters.files++
    assert.deepStrictEqual(before.deadLetters, { rows: 1, companyInfo: 0, files: 0 })
    assert.strictEqual(before.deadLettered, 1)
    const after = counter.snapshot()
    assert.deepStrictEqual(after.deadLetters, { rows: 2, companyInfo: 0, files: 1 })
    assert.strictEqual(after.deadLettered, 3)
  })
})

/** SQL text for DuckDB: quoted identifiers and string literals, for what cannot be a parameter. */

export const quoteIdent = (name: string) => `"${name.replaceAll("\"", "\"\"")}"`

export const quoteLiteral = (text: string) => `'${text.replaceAll("'", "''")}'`

import { Schema, SchemaIssue } from "effect"

/** One problem with a record: where (a field path, or "" for the record) and why. */
export const FieldProblem = Schema.Struct({ field: Schema.String, problem: Schema.String })

/** A record that does not satisfy its schema. Never retryable: it goes to the dead letters. */
export class InvalidRecord extends Schema.TaggedError<InvalidRecord>()("InvalidRecord", {
  kind: Schema.String,
  problems: Schema.Array(FieldProblem)
}) {
  override get message() {
    return `invalid ${this.kind}: ${this.problems.map((p) => `${p.field || "(record)"}: ${p.problem}`).join("; ")}`
  }
}

/** Input cut at 64 characters for an error message: it names what was refused, never repeats a megabyte of it. */
const cut = (text: string): string => text.length > 64 ? `${text.slice(0, 64)}…` : text

/** Input quoted for an error message, cut at 64 characters. */
export const quoted = (text: string): string => JSON.stringify(cut(text))

/** Names for an error message: the first five, each cut at 64 characters, and how many more. */
export const someNames = (names: ReadonlyArray<string>): string =>
  names.slice(0, 5).map(cut).join(", ") + (names.length > 5 ? ` and ${names.length - 5} more` : "")

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

/** The field paths and reasons of a schema issue. */
export const fieldProblems = (issue: SchemaIssue.Issue): ReadonlyArray<typeof FieldProblem.Type> =>
  formatter(issue).issues.map((i) => ({
    field: (i.path ?? []).map((p) => String(typeof p === "object" ? p.key : p)).join("."),
    problem: i.message
  }))

/**
 * User info in URLs (`scheme://user:secret@host`): what a message may show of one, and the Basic
 * authorization an http(s) endpoint's user info stands for (fetch refuses a URL holding
 * credentials, with an error that echoes them).
 */
import { percentDecoded } from "./percentDecode.ts"

/**
 * `text` with the user info of a URL it starts with hidden, `postgresql://***@db/k2`, and the
 * values of its `password=` and `sslpassword=` parameters (libpq reads both from a URL's query), or
 * of every parameter of an http(s) URL.
 * All the user info goes, a user name given alone too: `https://TOKEN@host` is how GitHub-style
 * tokens and many proxies take a secret. Up to the last `@`: a password written unescaped may hold
 * `@`, `/` or `#` (better hide too much).
 */
export const withoutCredentials = (text: string): string => {
  const url = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/)(.*)$/s.exec(text)
  if (url === null) return text
  const rest = url[2]!.replace(/^.*@/s, "***@")
  // An http(s) URL's query is where a key is put when it is not in a header (`?api_key=`, `?token=`).
  const hidden = /^https?:\/\/$/i.test(url[1]!) ? /([?&][^=&#]*=)[^&#]*/g : /([?&](?:ssl)?password=)[^&#]*/gi
  return url[1] + rest.replace(hidden, "$1***")
}

/**
 * An http(s) URL's user info moved out (`https://key:secret@host`, as Confluent's and OTLP clients
 * take it): the URL without it (as `URL` writes it), and the Basic authorization it stands for.
 */
export const splitCredentials = (url: string): { readonly url: string; readonly authorization?: string } => {
  const parsed = URL.parse(url)
  if (parsed === null) return { url }
  if (parsed.username === "" && parsed.password === "") return { url: parsed.href }
  // A `%` that starts no escape stands for itself.
  const part = (encoded: string) => percentDecoded(encoded) ?? encoded
  const credentials = `${part(parsed.username)}:${part(parsed.password)}`
  parsed.username = ""
  parsed.password = ""
  return { url: parsed.href, authorization: `Basic ${Buffer.from(credentials).toString("base64")}` }
}

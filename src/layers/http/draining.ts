/** A stopping server: whether it is (`Draining`), and what it still answers meanwhile. */
import { Context } from "effect"
import { pathForms } from "./routePaths.ts"

/**
 * Whether the server is stopping: its listening socket is closed, requests in flight finish. Set by
 * `nodeServer`; never, where the server is another.
 */
export const Draining = Context.Reference<{ readonly now: () => boolean }>("k2/http/Draining", { defaultValue: () => ({ now: () => false }) })

/** The routes a stopping server still answers: a liveness probe that failed would have it killed before its drain ends. */
export const answeredWhileDraining = (pathname: string) => pathForms(pathname).every((p) => p === "/health")

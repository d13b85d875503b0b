/**
 * A program's telemetry in one layer: the logger (./logging.ts), OTLP traces when configured
 * (./tracing.ts), and, for long-running programs, the process metrics (./process.ts). Metrics
 * live in the process-wide Effect registry (./metrics.ts).
 */
import { Layer } from "effect"
import { loggingLayer } from "./logging.ts"
import * as ProcessMetrics from "./process.ts"
import { tracingLayer } from "./tracing.ts"

export { loggingLayer } from "./logging.ts"

export const layer = (service: string, options: { readonly processMetrics?: boolean } = {}) =>
  Layer.mergeAll(
    loggingLayer(service),
    tracingLayer(service),
    options.processMetrics === true ? ProcessMetrics.layer : Layer.empty
  )

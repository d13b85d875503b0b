/**
 * Apache Iceberg's REST catalog server for integration and interop tests: `ensureRestCatalog()`
 * runs `scripts/rest-catalog.sh start` (idempotent; the first run downloads the jars with Maven)
 * and fails loudly when it cannot. K2_TEST_REST_URI points the tests at another server.
 */
import { serviceStarter } from "../support/services.ts"

export const restCatalogUri = process.env.K2_TEST_REST_URI ?? "http://127.0.0.1:8181"

export const ensureRestCatalog = serviceStarter("rest-catalog.sh", "the REST catalog", "K2_TEST_REST_URI")

/** A parent namespace of its own per test run, so runs never see each other's tables. */
export const uniqueParent = (prefix = "k2_test") => `${prefix}_${Date.now()}_${Math.floor(Math.random() * 1e6)}`

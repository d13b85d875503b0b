/** The PostgreSQL server the integration tests use (already running on dev and CI machines). */
export const postgresUrl = process.env.K2_TEST_POSTGRES_URL ?? "postgresql://postgres@127.0.0.1:5432/test"

/** A catalog name of its own per test, so runs never see each other's tables. */
export const uniqueCatalogName = (prefix = "k2_test") => `${prefix}_${Date.now()}_${Math.floor(Math.random() * 1e6)}`

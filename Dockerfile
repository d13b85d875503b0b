# K2's long-running programs (ingest, serve, compact) for docker-compose.yml. Node runs the TypeScript
# sources directly (type stripping), so there is no build step: the image is the repo plus its
# runtime dependencies as locked (src/ imports nothing from devDependencies).
# node:22 >= 22.19 (package.json engines; Effect 4 needs it).
FROM node:22-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY . .
# The allocator settings of `npm run ingest` (package.json; docs/decisions.md ADR-11).
ENV NODE_ENV=production \
    MALLOC_ARENA_MAX=2 \
    DUCKDB_JE_MALLOC_CONF=dirty_decay_ms:0,muzzy_decay_ms:0 \
    K2_WAREHOUSE=/warehouse
VOLUME /warehouse
# ingest by default; docker-compose.yml overrides the command for serve and compact.
# V8 heap settings as `npm run ingest` (package.json; docs/decisions.md ADR-11): ingest's buffers are
# bounded so its live heap fits 256 MB; uncapped, V8 lets garbage grow the heap to ~1 GB.
CMD ["node", "--max-old-space-size=256", "--max-semi-space-size=16", "--heap-growing-percent=100", "--disable-warning=ExperimentalWarning", "src/programs/ingest.ts"]

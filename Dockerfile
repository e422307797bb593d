# zookeeper-proxy container image: the TypeScript sources compiled by tsc (`npm run build`: no type
# stripping at run time, ~30 MiB less RSS, see bench/README.md), production dependencies only, as
# the unprivileged `node` user.
#   docker build -t zookeeper-proxy .
#   docker run -e ZKPROXY_SECRET=... -v $PWD/proxy.yaml:/etc/zookeeper-proxy/proxy.yaml:ro \
#     -p 7451:7451 -p 9464:9464 zookeeper-proxy
# Every flag of `serve` can be appended (`... zookeeper-proxy --log-level debug`) or set as ZKPROXY_<FLAG>.

FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# The workspace package jute-ts (protocol/) is linked into node_modules by npm ci: its manifest must be there.
COPY protocol/package.json protocol/package.json
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY protocol/package.json protocol/tsconfig.build.json protocol/
RUN npm ci --no-audit --no-fund
COPY protocol/src protocol/src
COPY src src
RUN npm run build

FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production \
    ZKPROXY_CONFIG=/etc/zookeeper-proxy/proxy.yaml \
    ZKPROXY_ADMIN=0.0.0.0:9464
WORKDIR /app
COPY --from=deps /app/node_modules node_modules
COPY package.json package-lock.json ./
COPY protocol/package.json protocol/package.json
COPY --from=build /app/protocol/dist protocol/dist
COPY --from=build /app/dist dist
# Files stay owned by root and read-only to the process.
USER node
# 7451: the first tenant listener by convention (more tenants, more ports: see deploy/); 9464: admin HTTP.
EXPOSE 7451 9464
# Liveness only (/healthz): readiness (/readyz) also needs the ensemble, and belongs to the orchestrator.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9464/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM drains client connections over drain.periodMs before exiting.
STOPSIGNAL SIGTERM
# --conditions=zkp-compiled: jute-ts resolves to its compiled build (protocol/dist), not its sources.
ENTRYPOINT ["node", "--conditions=zkp-compiled", "dist/cli.js", "serve"]

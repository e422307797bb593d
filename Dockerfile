# zookeeper-proxy container image: runs the TypeScript sources directly on Node 24 (type stripping,
# no build step), production dependencies only, as the unprivileged `node` user.
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

FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production \
    ZKPROXY_CONFIG=/etc/zookeeper-proxy/proxy.yaml \
    ZKPROXY_ADMIN=0.0.0.0:9464
WORKDIR /app
COPY --from=deps /app/node_modules node_modules
COPY package.json package-lock.json ./
COPY protocol/package.json protocol/package.json
COPY protocol/src protocol/src
COPY src src
# Files stay owned by root and read-only to the process.
USER node
# 7451: the first tenant listener by convention (more tenants, more ports: see deploy/); 9464: admin HTTP.
EXPOSE 7451 9464
# Liveness only (/healthz): readiness (/readyz) also needs the ensemble, and belongs to the orchestrator.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9464/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM drains client connections over drain.periodMs before exiting.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "src/cli.ts", "serve"]

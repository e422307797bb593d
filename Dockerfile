# zookeeper-proxy: multi-stage, small, non-root. Build: docker build -t zookeeper-proxy .
# Run:   docker run -p 7451:7451 -p 9464:9464 -v $PWD/proxy.yaml:/etc/zookeeper-proxy/proxy.yaml:ro zookeeper-proxy
# (the image's config path is /etc/zookeeper-proxy/proxy.yaml; every flag also reads ZKPROXY_* env vars)
FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY protocol/package.json protocol/package.json
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:24-slim
ENV NODE_ENV=production \
    ZKPROXY_CONFIG=/etc/zookeeper-proxy/proxy.yaml \
    ZKPROXY_ADMIN=0.0.0.0:9464
WORKDIR /app
COPY --from=deps /app/node_modules node_modules
COPY package.json package-lock.json ./
COPY protocol/package.json protocol/package.json
COPY protocol/src protocol/src
COPY src src
USER node
EXPOSE 7451 9464
# /healthz answers while the process lives; /readyz also needs the ensemble (use it for the load balancer).
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s \
  CMD node -e "fetch('http://127.0.0.1:9464/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "src/cli.ts"]
CMD ["serve"]

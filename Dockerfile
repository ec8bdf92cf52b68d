# The glance-store-operator image (docs/image.md).
#
# Two bases, both Debian 12 with Node.js 20:
#   BUILD_IMAGE  has npm and a shell: it installs the dependencies and compiles.
#   BASE_IMAGE   runs the operator: Node.js only, no npm, no shell. It must have
#                `node` (>= 20.18.1) in /nodejs/bin (distroless) or on the PATH below.
# Pin them by digest in CI (name@sha256:...). Without a registry, the local
# build passes bases made from Debian packages and Node.js's own build
# (src/devstack/image.ts); the rest of this file is the same.
ARG BUILD_IMAGE=docker.io/library/node:20-bookworm-slim
ARG BASE_IMAGE=gcr.io/distroless/nodejs20-debian12:nonroot

FROM ${BUILD_IMAGE} AS build
ENV NPM_CONFIG_UPDATE_NOTIFIER=false
WORKDIR /build
COPY package.json package-lock.json ./
# No locked package has an install script (test/image/image.test.ts checks
# package-lock.json), so none is run. An optional build secret `npm_ca` holds
# extra CA certificates for a registry reached through a TLS-inspecting proxy.
RUN --mount=type=secret,id=npm_ca,target=/run/secrets/npm_ca \
    if [ -s /run/secrets/npm_ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/npm_ca; fi; \
    npm ci --ignore-scripts --no-audit --no-fund --loglevel=warn
COPY tsconfig.json ./
COPY src ./src
RUN node node_modules/typescript/bin/tsc -p tsconfig.json
# What the runtime gets: the compiled operator and its production dependencies,
# without type declarations, source maps or TypeScript sources.
RUN npm prune --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=warn \
 && rm -rf node_modules/.bin node_modules/.package-lock.json \
 && find node_modules -depth -type d -name @types -exec rm -rf {} + \
 && find node_modules dist/src -type f \( -name '*.ts' -o -name '*.mts' -o -name '*.cts' -o -name '*.map' \) -delete \
 && find node_modules -depth -type d -empty -delete \
 && mkdir -p /app/dist \
 && mv package.json node_modules /app/ \
 && mv dist/src /app/dist/src

FROM ${BASE_IMAGE}
ARG VERSION=dev
LABEL org.opencontainers.image.title="glance-store-operator" \
      org.opencontainers.image.description="Kubernetes operator that runs OpenStack Glance with several Cinder stores" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
# Owned by root and read-only to the operator's user; nothing is written at run time.
COPY --from=build /app /app
WORKDIR /app
# V8's young generation grows to 3 x 16 MB under the allocation bursts of a
# cold start; capped at 3 x 4 MB, the peak RSS with 1000 stores among
# thousands of other objects is about 20 MB lower for some 15 % more CPU
# (docs/benchmarks.md). A pod that sets NODE_OPTIONS replaces this.
ENV NODE_ENV=production \
    NODE_OPTIONS=--max-semi-space-size=4 \
    PATH=/nodejs/bin:/usr/local/bin:/usr/bin:/bin
# The chart's podSecurityContext runs as 65532 (distroless' nonroot) too.
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["node", "/app/dist/src/cli/main.js"]
CMD ["run"]

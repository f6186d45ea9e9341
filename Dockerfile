# earshot server image (CPU). Multi-stage: TypeScript is compiled in the build stage, the runtime runs plain
# JavaScript with production dependencies only (no compiler, fast start). CUDA: Dockerfile.gpu.
FROM node:20-bookworm-slim AS build
WORKDIR /src
# .npmrc (ignore-scripts) keeps onnxruntime-node's install script from fetching CUDA binaries.
COPY package.json package-lock.json .npmrc ./
COPY plugin/package.json plugin/
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY audio audio
COPY models models
COPY server server
RUN npm run build:server

FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
COPY plugin/package.json plugin/
RUN npm ci --omit=dev --omit=peer --no-audit --no-fund \
  # @ricky0123/vad-web is installed for its Silero v5/v6 .onnx files only: its browser runtime (~150 MB with the
  # onnxruntime-web it brings) is never loaded by the server.
  && find node_modules/@ricky0123/vad-web -mindepth 1 -maxdepth 1 ! -name dist ! -name package.json -exec rm -rf {} + \
  && find node_modules/@ricky0123/vad-web/dist -type f ! -name '*.onnx' -delete

FROM node:20-bookworm-slim
# ffmpeg: mp3/ogg/flac/webm uploads; tini: signals reach node, so SIGTERM drains streams.
RUN apt-get update \
  && apt-get install -y --no-install-recommends ffmpeg tini ca-certificates \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production \
    EARSHOT_HOST=0.0.0.0 \
    EARSHOT_PORT=8080 \
    EARSHOT_CACHE_DIR=/models \
    EARSHOT_DATA_DIR=/data
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
# Models are pulled (or synthesized) into /models on first start; the file store writes /data.
RUN mkdir -p /models /data && chown node:node /models /data
VOLUME ["/models", "/data"]
EXPOSE 8080
USER node
HEALTHCHECK --interval=15s --timeout=3s --start-period=120s \
  CMD node -e "fetch('http://127.0.0.1:8080/healthz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
ENTRYPOINT ["/usr/bin/tini", "--", "node", "dist/server/main.js"]
CMD ["serve"]

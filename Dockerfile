# earshot server image (CPU). For CUDA, build FROM an nvidia/cuda 12 + cuDNN 9 runtime base and run
# `ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js` after `npm ci`
# (see README "GPU"), then start with --device cuda.
FROM node:20-bookworm-slim

# ffmpeg: mp3/ogg/flac/webm uploads; tini: signals reach node, so SIGTERM drains streams.
RUN apt-get update \
  && apt-get install -y --no-install-recommends ffmpeg tini ca-certificates \
  && rm -rf /var/lib/apt/lists/*

WORKDIR /app
ENV ONNXRUNTIME_NODE_INSTALL=skip \
    NODE_ENV=production \
    EARSHOT_HOST=0.0.0.0 \
    EARSHOT_PORT=8080 \
    EARSHOT_CACHE_DIR=/models
COPY package.json package-lock.json .npmrc ./
# tsx runs the TypeScript sources directly, so the runtime needs only the production dependencies.
RUN npm ci --omit=dev --no-audit --no-fund
COPY bin ./bin
COPY audio ./audio
COPY models ./models
COPY server ./server
COPY tsconfig.json ./

# Models are pulled (or synthesized) into a volume on first start.
RUN mkdir -p /models && chown node:node /models
VOLUME ["/models"]
EXPOSE 8080
USER node
HEALTHCHECK --interval=15s --timeout=3s --start-period=120s \
  CMD node -e "fetch('http://127.0.0.1:8080/healthz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
ENTRYPOINT ["/usr/bin/tini", "--", "node", "bin/earshot.js"]
CMD ["serve"]

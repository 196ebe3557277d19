# The Rewind image: the worker (and, later, the API) run from it. Temporal itself is a separate
# service in docker-compose.yml.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY . .
ENV REWIND_HOME=/data
VOLUME ["/data"]
CMD ["node", "bin/rewind.js", "worker"]

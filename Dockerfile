# syntax=docker/dockerfile:1
# Build: pg_query_go needs cgo, so the builder is the full golang image.
FROM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=1 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/advisor ./cmd/advisor

# Run: glibc for the cgo binary, CA certificates for Slack and webhooks, no shell tools needed.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/pgadvisor --create-home pgadvisor
COPY --from=build /out/advisor /usr/local/bin/advisor
COPY configs/advisor.example.yaml /etc/pgadvisor/advisor.yaml
USER 10001
VOLUME ["/etc/pgadvisor", "/var/lib/pgadvisor"]
EXPOSE 9187
# Alive when /healthz answers: 200, or, behind a --web.config.file, 401 (basic
# auth) or 400 (a TLS listener's answer to plain HTTP); the check has no
# credentials, and the web config's are the operator's.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s CMD code=$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:9187/healthz); \
    [ "$code" = 200 ] || [ "$code" = 401 ] || [ "$code" = 400 ]
ENTRYPOINT ["/usr/local/bin/advisor"]
CMD ["run", "--config", "/etc/pgadvisor/advisor.yaml"]

# syntax=docker/dockerfile:1
#
# Gatehouse as a container image: a static binary (CGO_ENABLED=0, pure-Go
# SQLite and PostgreSQL drivers) on distroless static, as the non-root user
# 65532. Build with the version stamped:
#
#   docker build -t gatehouse:1.2.0 \
#     --build-arg VERSION=1.2.0 \
#     --build-arg COMMIT=$(git rev-parse HEAD) \
#     --build-arg BUILD_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ) .
#
# See docs/deployment.md (compose.yaml runs it with PostgreSQL and Mailpit).

ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION} AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-trimpath GOTOOLCHAIN=local
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=0.1.0-dev
ARG COMMIT=""
ARG BUILD_DATE=""
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -buildvcs=false \
      -ldflags "-s -w \
        -X github.com/gatehouse-id/gatehouse.Version=${VERSION} \
        -X github.com/gatehouse-id/gatehouse.Commit=${COMMIT} \
        -X github.com/gatehouse-id/gatehouse.BuildDate=${BUILD_DATE}" \
      -o /out/gatehouse ./cmd/gatehouse \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=0.1.0-dev
LABEL org.opencontainers.image.title="Gatehouse" \
      org.opencontainers.image.description="Self-hosted identity onboarding hub: SCIM 2.0 service provider, event rules, provisioning" \
      org.opencontainers.image.source="https://github.com/gatehouse-id/gatehouse" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/gatehouse /usr/local/bin/gatehouse
# The data directory (SQLite, the audit checkpoint key and file), owned by
# the image's non-root user; mount a volume here.
COPY --from=build --chown=65532:65532 /out/data /var/lib/gatehouse
ENV GATEHOUSE_LISTEN=0.0.0.0:8080 \
    GATEHOUSE_DATA_DIR=/var/lib/gatehouse \
    GATEHOUSE_LOG_FORMAT=json
USER 65532:65532
EXPOSE 8080
VOLUME ["/var/lib/gatehouse"]
# A static image has no shell and no curl: the binary asks /readyz itself
# (on GATEHOUSE_LISTEN, loopback for 0.0.0.0).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["/usr/local/bin/gatehouse", "healthcheck", "--timeout", "4s"]
ENTRYPOINT ["/usr/local/bin/gatehouse"]
CMD ["serve"]

# iisbridge container image: a static binary on a distroless base, run as a
# non-root user, the data directory (index, job store, export files) on a
# volume. Build:  docker build --build-arg VERSION=v0.1.0 --build-arg REVISION=$(git rev-parse HEAD) -t iisbridge .
# Run (see README, "Running it as a service"):
#   docker run -p 8080:8080 -v iisbridge-data:/data -v /srv/iis-archive:/archive:ro \
#     -v $PWD/config.yaml:/etc/iisbridge/config.yaml:ro iisbridge

FROM golang:1.26.8 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=
ARG REVISION=
# Pure Go (SQLite included), so a static binary; the build has no .git, so
# the version and revision come in as build arguments.
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION} -X main.revision=${REVISION}" \
      -o /out/iisbridge ./cmd/iisbridge

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/iisbridge /usr/local/bin/iisbridge
# distroless "nonroot": uid/gid 65532, no shell.
USER 65532:65532
# data_dir: /data in the config. One data directory per server: the
# process locks it, so two containers must not share a volume.
VOLUME ["/data"]
EXPOSE 8080
# Liveness: GET /healthz; readiness: GET /readyz (503 while indexing).
ENTRYPOINT ["/usr/local/bin/iisbridge"]
CMD ["serve", "--config", "/etc/iisbridge/config.yaml", "--log-format", "json"]

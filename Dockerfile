# Convoy's images, built from source in Docker: the standard path for machines that can pull
# base images (rust, distroless). Without a registry, use examples/compose/build-images.sh,
# which assembles the same images FROM scratch from binaries cargo built on the host.
#
#   docker build --target control-plane -t convoy-control-plane:local .
#   docker build --target proxy         -t convoy-proxy:local .
#   docker build --target demo-service  -t convoy-demo-service:local .
# (or: examples/compose/build-images.sh --from-source, which runs these three)
#
# Each image runs as the non-root user 65532 and holds its binary and convoy-http, a tiny
# HTTP client for healthchecks (the runtime image has no shell and no curl).

ARG RUST_VERSION=1
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked \
        -p convoy-proxy -p convoy-control-plane -p convoy-examples --bins \
    && mkdir -p /out/bin /out/data/ca \
    && chmod 700 /out/data/ca \
    && cp target/release/convoy-proxy target/release/convoy-control-plane \
          target/release/convoy-demo-service target/release/convoy-http /out/bin/

FROM ${RUNTIME_IMAGE} AS runtime
# The control plane's CA directory (a volume in compose): owned by the user that runs.
COPY --from=build --chown=65532:65532 /out/data/ /var/lib/convoy/
COPY --from=build /out/bin/convoy-http /usr/local/bin/
ENV PATH=/usr/local/bin:/usr/bin:/bin
USER 65532:65532
WORKDIR /var/lib/convoy

FROM runtime AS control-plane
COPY --from=build /out/bin/convoy-control-plane /usr/local/bin/
ENTRYPOINT ["/usr/local/bin/convoy-control-plane"]

FROM runtime AS demo-service
COPY --from=build /out/bin/convoy-demo-service /usr/local/bin/
ENTRYPOINT ["/usr/local/bin/convoy-demo-service"]

# Last, so that a plain `docker build .` makes the proxy.
FROM runtime AS proxy
COPY --from=build /out/bin/convoy-proxy /usr/local/bin/
ENTRYPOINT ["/usr/local/bin/convoy-proxy"]

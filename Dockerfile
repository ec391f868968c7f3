# One image with every Wharf executable; compose and Kubernetes pick the one to run with `command`.
FROM swift:6.3-bookworm AS build
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libhiredis-dev libsecp256k1-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Shared Shared
COPY Services Services
COPY Tests Tests
# release for deployments; scripts/compose-smoke builds debug (the same wiring, a third of the build time).
ARG SWIFT_CONFIGURATION=release
RUN swift build -c "$SWIFT_CONFIGURATION" --static-swift-stdlib \
 && mkdir /out \
 && for product in wharfctl store sync routing blob negentropy gateway console; do \
      cp ".build/$SWIFT_CONFIGURATION/$product" /out/ && strip "/out/$product"; \
    done

FROM debian:bookworm-slim
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      libhiredis0.14 libsecp256k1-1 ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home /var/lib/wharf --create-home wharf
COPY --from=build /out/ /usr/local/bin/
USER wharf
# Services listen on every interface inside the container; the ports are set per service.
ENV WHARF_LOG_LEVEL=info
ENTRYPOINT []
CMD ["wharfctl", "--help"]

# linli's servers in one small image: linli-coordinator (streets, the district),
# linli-node (a community, for lab clusters) and linlictl. Non-root (uid 10001),
# nothing but the binaries and the C++ runtime RocksDB needs.
#
#   podman build -t linli:latest .      (or docker build)
#
# Where no base image can be pulled, scripts/image.sh builds the same image from
# scratch out of the binaries built on the host.

FROM docker.io/library/rust:1.90-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libclang-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p linli-node -p linli-coordinator -p linli-ctl --bins \
 && mkdir /out \
 && cp target/release/linli-node target/release/linli-coordinator target/release/linlictl /out/ \
 && strip --strip-debug /out/*

FROM docker.io/library/debian:bookworm-slim
RUN groupadd --system --gid 10001 linli \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/linli --no-create-home linli
COPY --from=build /out/ /usr/local/bin/
USER 10001:10001
EXPOSE 7400 9400
# Kubernetes gives the whole command as `args` (see k8s/).
CMD ["linli-coordinator", "--help"]

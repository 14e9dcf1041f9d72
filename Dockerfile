# kafkasim as a container: a build stage with the Rust toolchain, then a small runtime image
# that runs as an unprivileged user. Used by the Kubernetes sweep job in README ("Across
# machines"); linted by hadolint in CI (tests/packaging.rs).
#
#   docker build --build-arg KAFKASIM_COMMIT="$(git rev-parse --short=12 HEAD)" -t kafkasim .
#   docker run --rm kafkasim run teach/01-leader-failover
#   docker run --rm -v "$PWD/out:/work" kafkasim fuzz --seeds 1000 --out /work/sweep

FROM rust:1.88-slim-bookworm AS build
# The commit for `kafkasim --version` (the build context has no .git).
ARG KAFKASIM_COMMIT=unknown
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin kafkasim

FROM debian:bookworm-slim
# A fixed, unprivileged user; /work is where runs write their output.
RUN useradd --system --uid 10001 --home-dir /work --create-home kafkasim
COPY --from=build /src/target/release/kafkasim /usr/local/bin/kafkasim
USER 10001
WORKDIR /work
ENTRYPOINT ["kafkasim"]
CMD ["--help"]

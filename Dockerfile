# The ets-ledger server. Build: docker build -t ets-ledger .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin ets-ledger

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /var/lib/ets-ledger --create-home ets
COPY --from=build /src/target/release/ets-ledger /usr/local/bin/ets-ledger
USER ets
WORKDIR /var/lib/ets-ledger
ENV ETS_LISTEN=0.0.0.0:8080 ETS_LOG_FORMAT=json
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD curl -fsS http://127.0.0.1:8080/readyz || exit 1
ENTRYPOINT ["ets-ledger"]
CMD ["serve"]

# lesiond container image: `docker build -t lesiond .`, then `docker run -p 8080:8080 -v
# lesiond-data:/data lesiond` (README.md, "Container image"; tested by `make docker-test`).
#
# Two stages on Debian 12. The build stage installs what building needs with the
# project's own `make deps` (LESIOND_BUILD_ONLY=1: no test, fuzz or browser tools) and
# builds with `make`. The runtime stage has only the shared libraries the binaries link,
# curl for the HEALTHCHECK, the binaries and the entrypoint; it runs as user lesiond
# (uid 10001), with the data volume at /data.

FROM debian:12 AS build
WORKDIR /src
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends make ca-certificates
# The dependencies in their own layer, reused until tools/deps.sh changes (installing
# and building the FAISS C API take ~7 minutes): this is the recipe of `make deps`, run
# without the Makefile so that editing the Makefile keeps the layer. `make deps all`
# below then finds its stamp and only builds.
COPY tools/deps.sh tools/
RUN LESIOND_BUILD_ONLY=1 sh tools/deps.sh build && rm -rf /var/lib/apt/lists/*
COPY . .
RUN LESIOND_BUILD_ONLY=1 make deps && make -j2 all \
    && mkdir -p /out \
    && strip --strip-debug -o /out/lesiond build/release/lesiond \
    && strip --strip-debug -o /out/lesiond-generic build/release/lesiond-generic

FROM debian:12
# Runtime libraries only (what `ldd lesiond` lists beyond the base system), without
# their documentation; curl answers the HEALTHCHECK.
RUN printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-exclude /usr/share/man/*' \
        'path-exclude /usr/share/locale/*' 'path-exclude /usr/share/info/*' \
        > /etc/dpkg/dpkg.cfg.d/lesiond-nodoc \
    && apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libmicrohttpd12 libpng16-16 libcjson1 libsqlite3-0 libopenblas0-pthread libgomp1 \
        libgnutls30 zlib1g libcurl3-gnutls curl \
    && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt \
        /var/log/dpkg.log \
    && groupadd --system --gid 10001 lesiond \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin lesiond \
    && mkdir -p /data /usr/local/lib/lesiond \
    && chown lesiond:lesiond /data && chmod 0750 /data
COPY --from=build /out/lesiond /out/lesiond-generic /usr/local/bin/
COPY deploy/docker-entrypoint.sh /usr/local/bin/lesiond-entrypoint
COPY tools/demo_db.sh /usr/local/lib/lesiond/demo_db.sh
# Settings every subcommand reads (LESIOND_<KEY> for any key of config/lesiond.conf;
# environment beats /data/lesiond.conf, flags beat both).
ENV LESIOND_LISTEN=0.0.0.0 \
    LESIOND_PORT=8080 \
    LESIOND_DB=/data/lesiond.db \
    LESIOND_IMAGES=/data/Images_png
USER 10001:10001
WORKDIR /data
VOLUME /data
EXPOSE 8080
# healthy = ready (database open, every index loaded); 503 while loading or rebuilding
HEALTHCHECK --interval=5s --timeout=3s --start-period=300s --retries=3 \
    CMD curl -fsS -o /dev/null "http://127.0.0.1:${LESIOND_PORT:-8080}/readyz" || exit 1
ENTRYPOINT ["lesiond-entrypoint"]
CMD ["serve"]

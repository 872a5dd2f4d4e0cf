# lesiond on Debian 12, built with the project's own Makefile (make deps installs the
# Debian packages and builds the FAISS C API from Debian's faiss source package).
FROM debian:12
WORKDIR /src
COPY . /src
# LESIOND_NO_BROWSER=1: the viewer's browser test (Chromium, npm) is not needed in the image
RUN apt-get update && apt-get install -y --no-install-recommends make ca-certificates \
    && LESIOND_NO_BROWSER=1 make deps && make && rm -rf /var/lib/apt/lists/*
RUN mkdir -p /data && cp build/release/lesiond build/release/lesiond-generic /usr/local/bin/
EXPOSE 8080
VOLUME /data
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
    CMD curl -fs http://127.0.0.1:8080/healthz || exit 1
# Listening on all interfaces needs API keys (admin_keys) or open_access = true in
# /data/lesiond.conf; see README.md.
CMD ["lesiond", "serve", "--config", "/data/lesiond.conf", "--db", "/data/lesiond.db", \
     "--images", "/data/Images_png", "--listen", "0.0.0.0", "--port", "8080"]

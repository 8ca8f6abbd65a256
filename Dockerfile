# moq-relay for Deno, as a container.
#
#   docker build -t moq-relay-deno .
#   docker run --rm -p 4443:4443/udp -p 4443:4443/tcp \
#     -v "$PWD/relay.toml:/etc/moq-relay/relay.toml:ro" moq-relay-deno
#
# The relay reads /etc/moq-relay/relay.toml. The image ships a development default there (QUIC and
# HTTP/WebSocket on 0.0.0.0:4443, a self-signed certificate, anonymous access under anon/, the
# internal listener on 127.0.0.1:9090 for the health check); mount your own file over it. In your
# file, bind to 0.0.0.0 (or [::]), not 127.0.0.1, or nothing outside the container can connect,
# and keep `[internal] listen = "127.0.0.1:9090"` (or set RELAY_HEALTH_URL) for the HEALTHCHECK.
# Stopping drains for up to `[limits] drain_timeout` (10 s): give `docker stop -t 15` or more.
FROM denoland/deno:2.9.6

WORKDIR /app
RUN chown deno:deno /app

# The development default configuration (replace it by mounting your own relay.toml).
RUN mkdir -p /etc/moq-relay && printf '%s\n' \
    '# Container development default: mount your own relay.toml over this file.' \
    '[server]' \
    'bind = "0.0.0.0:4443"' \
    '[server.tls]' \
    'generate = ["localhost", "127.0.0.1"]' \
    '[web.http]' \
    'listen = "0.0.0.0:4443"' \
    '[internal]' \
    'listen = "127.0.0.1:9090"' \
    '[auth]' \
    'public = "anon"' \
    > /etc/moq-relay/relay.toml

# Never run as root.
USER deno

# Dependencies in their own layer: only rebuilt when deno.json or deno.lock change.
COPY --chown=deno:deno deno.json deno.lock ./
RUN deno install

# The sources, then make sure everything main.ts imports is cached (no network at run time).
COPY --chown=deno:deno . .
RUN deno cache main.ts

# QUIC (WebTransport + raw QUIC) on UDP, HTTP endpoints + WebSocket on TCP, same port number.
EXPOSE 4443/udp 4443/tcp

# The internal listener's /health: 200 while serving, 503 while draining. curl is not in the image.
ENV RELAY_HEALTH_URL=http://127.0.0.1:9090/health
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 \
    CMD ["deno", "eval", "const r = await fetch(Deno.env.get('RELAY_HEALTH_URL')); await r.body?.cancel(); Deno.exit(r.ok ? 0 : 1);"]

# The image's entrypoint (tini + docker-entrypoint.sh) forwards SIGTERM so the relay drains and
# exits 0. `docker run … moq-relay-deno run -A --cached-only main.ts --help` shows every flag.
STOPSIGNAL SIGTERM
CMD ["run", "-A", "--cached-only", "main.ts", "/etc/moq-relay/relay.toml"]

# One Liveroom node. Media is UDP on ephemeral ports: run with host networking
# (docker run --network host) or set LIVEROOM_ICE_HOST_ADDRESSES/ANNOUNCED_ADDRESS.
# Alone it is one node with no services; in a cluster (deploy/compose.yaml, docs/operations.md
# "Cluster") give every node the same LIVEROOM_REDIS_URL, LIVEROOM_TOKEN_SECRET and
# LIVEROOM_API_KEY, and its own LIVEROOM_NODE_ID, LIVEROOM_PORT and LIVEROOM_PUBLIC_URL.
# Unverified here: the build machine has no Docker.
FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends libopus0 libvpx7 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY media ./media
COPY signalling ./signalling
COPY qos ./qos
COPY recorder ./recorder
RUN pip install --no-cache-dir .
# The cluster settings, empty: one node. LIVEROOM_DRAIN_ON_SIGTERM=true makes `docker stop`
# drain (rooms move to the other nodes) within LIVEROOM_DRAIN_DEADLINE_S: give the container
# a stop grace period over that deadline (compose: stop_grace_period), or Docker kills it.
ENV LIVEROOM_HOST=0.0.0.0 LIVEROOM_DATA_DIR=/data LIVEROOM_LOG_JSON=true \
    LIVEROOM_REDIS_URL="" LIVEROOM_NODE_ID="" LIVEROOM_PUBLIC_URL="" \
    LIVEROOM_DRAIN_ON_SIGTERM=false LIVEROOM_DRAIN_DEADLINE_S=60
VOLUME /data
EXPOSE 8080
# /readyz is 503 while the node drains or cannot reach its directory
HEALTHCHECK CMD python -c "import os,urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('LIVEROOM_PORT', '8080') + '/readyz')" || exit 1
CMD ["liveroom", "serve"]

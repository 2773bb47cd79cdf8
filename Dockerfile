# One Liveroom node. Media is UDP on ephemeral ports: run with host networking
# (docker run --network host) or set LIVEROOM_ICE_HOST_ADDRESSES/ANNOUNCED_ADDRESS.
FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends libopus0 libvpx7 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY media ./media
COPY signalling ./signalling
RUN pip install --no-cache-dir .
ENV LIVEROOM_HOST=0.0.0.0 LIVEROOM_DATA_DIR=/data
VOLUME /data
EXPOSE 8080
HEALTHCHECK CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8080/readyz')" || exit 1
CMD ["liveroom", "serve"]

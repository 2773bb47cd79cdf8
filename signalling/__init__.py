"""Liveroom signalling: HTTP API, WebSocket protocol, tokens, settings, CLI, clients."""

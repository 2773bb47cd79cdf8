"""The recorder: keeps every consented lesson, per track, crash-safe, in sync and encrypted.

It runs inside the node as one more media Sink per consented publication (docs/recording.md).
The sans-IO core (`clock`, `segments`, `frames`, `consent`) takes time as an argument; the
adapters (`track`, `webm`, `sealing`, `journal`, `session`) do the IO off the event loop.
"""

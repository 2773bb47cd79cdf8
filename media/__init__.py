"""Liveroom media plane: rooms, participants, publications, subscriptions, RTP forwarding."""

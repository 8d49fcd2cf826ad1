"""Raft replication for the DLedger commit-log mode (storage spec §8).

``core`` is the sans-I/O state machine; ``storage`` keeps its log in DLedger's file layout; ``node``
drives it over the network on an asyncio loop.
"""

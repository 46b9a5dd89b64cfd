"""The simulated upstream: a deterministic stand-in for the ReccoBeats API.

Pure decisions (routing and validation in :mod:`~simulator.upstream.api`, the catalog, rate
limiting, latency and faults) take the time as an argument; :mod:`~simulator.upstream.service`
applies them with the injected clock, and :mod:`~simulator.upstream.transport` (in-process) and
:mod:`~simulator.upstream.server` (HTTP/1.1 and h2c) are the edges. Its public names are
re-exported by :mod:`simulator`.
"""

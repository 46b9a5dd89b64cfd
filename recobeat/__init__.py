"""The RecoBeat layer, floor 2 of the house (``engine`` <- ``recobeat`` <- ``simulator``).

What a web service embeds to call the ReccoBeats API: :class:`~recobeat.client.RecoBeatClient`
(typed calls through the engine), its :mod:`~recobeat.config` (RecoBeat's tuned engine settings
and TTL table, :mod:`recobeat.defaults`, as defaults), the API contract
(:mod:`recobeat.contract`: paths, per-request limits, header names; :mod:`recobeat.ids`: ID
rules; :mod:`recobeat.models`: wire shapes) and the errors (:mod:`recobeat.errors`). It imports
only :mod:`engine`.
"""

# Nothing is re-exported here: import from the modules named above.
__all__: list[str] = []

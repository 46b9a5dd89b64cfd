"""recobeat-engine: the backend-agnostic anyio engine."""

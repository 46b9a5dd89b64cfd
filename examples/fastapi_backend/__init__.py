"""An example backend: a FastAPI service that embeds one RecoBeatClient.

- :mod:`.playlist`: one playlist generation through the client's public API (no web concerns);
- :mod:`.app`: the app factory, its lifespan (the client, optionally a shared Redis), the routes
  and the one table that turns the library's errors into HTTP answers.

Run it with ``hypercorn examples.fastapi_backend.app:app`` (or uvicorn) from the repository's
root; its tests (``tests/test_example_backend.py``) run it against the in-process simulator.
"""

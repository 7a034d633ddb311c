"""The OpenStack-speaking HTTP API (Starlette + pydantic)."""

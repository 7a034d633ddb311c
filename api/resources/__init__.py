"""One module per resource (and per part of the API's own): its routes
(api/declarations.py), found by api/app.py (domain/discovery.py)."""

"""One module per resource (and per part of the API's own): its routes,
policy rules, public routes and, for a service's face, the service
(api/declarations.py); api/registry.py finds them (domain/discovery.py)."""

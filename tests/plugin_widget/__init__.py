"""A resource of the tests' own, added as a plugin is: a package named in
CLOUDLEDGER_RESOURCES with one module per layer (domain, commands,
projections, workers, api: a service of its own), and no file of
cloudledger's own edited. tests/integration/test_plugin_resource.py runs
it through the whole stack, HTTP to worker and back."""

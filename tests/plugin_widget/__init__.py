"""A resource of the tests' own, added as a plugin is: a package named in
CLOUDLEDGER_RESOURCES with one module per layer (domain, commands,
projections, workers), and no file of cloudledger's own edited.
tests/integration/test_plugin_resource.py runs it through the pipeline."""

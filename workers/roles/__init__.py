"""Worker roles' builders: each makes the context its role's jobs run with
(workers/runtime.py), from the settings, once per process. A resource's
worker declaration (workers/resources/) names its roles' builders."""

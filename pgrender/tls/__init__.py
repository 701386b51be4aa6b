"""TLS providers: where the cluster's certificates come from (one module each, see providers.py)."""

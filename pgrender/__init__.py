"""pgrender: compile typed PostgreSQL cluster specs into plain, kustomize-ready Kubernetes YAML."""

__version__ = "0.1.0"

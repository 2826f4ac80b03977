"""Kubernetes: pods annotated ``aimlops/gateway=true`` become backends (``pod_discovery``)."""

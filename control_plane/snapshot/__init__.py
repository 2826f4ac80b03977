"""Snapshots: built from the store, cached per cluster, watched for changes."""

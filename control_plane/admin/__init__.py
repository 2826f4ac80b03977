"""The REST admin API (/api/v1): the contract with the CLI, the SDK and curl."""

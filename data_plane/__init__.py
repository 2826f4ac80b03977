"""The data plane: stateless aiohttp proxies that serve compiled snapshots.

Nothing here imports the control plane: the only contract is protos/.
"""

__version__ = "0.1.0"

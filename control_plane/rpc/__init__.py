"""The gRPC edge: ConfigDiscovery for data planes, Admin for operators, and health."""

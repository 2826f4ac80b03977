"""Who may call and how often: policies, API keys, JWTs and rate limits, compiled per snapshot."""

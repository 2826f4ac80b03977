"""The configuration model: what a user may write, validated once, on the way in."""

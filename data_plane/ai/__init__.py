"""What the gateway understands of AI traffic: the model asked for, the tokens an answer used,
how fast the first token came, and what it cost.

Every part is a filter or a response observer on the request path (see
``data_plane.filters``); a route whose requests are not AI-shaped runs none of it.
"""

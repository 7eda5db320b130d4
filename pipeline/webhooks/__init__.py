"""Inbound webhooks: signature schemes, replay protection, ordering and the WSGI endpoint."""

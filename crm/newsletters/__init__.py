"""Newsletters: composer, blocks, rendering, sending, archive, and the subscription (double opt-in,
preference centre, one-click unsubscribe)."""

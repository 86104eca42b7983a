"""One module per handled message type; each exposes ``handle(core, payload, meid)``."""

"""Monitoring's REST API, one module per area: ingest (batches posted with an ingest token), monitors
(monitors, their references, tokens, channels, trigger and drift runs) and alerts."""

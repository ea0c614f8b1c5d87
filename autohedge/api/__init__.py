"""The HTTP control surface: JSON API, Prometheus metrics and the status page."""

"""The HTTP surface: Flask blueprints for pages, the JSON API and WebSockets,
the app-wide error mapping and request checks, and the worker's shared state."""

"""No HTTP views: the tutorial's room pages are left out (the benchmark speaks WebSocket)."""

urlpatterns: list = []

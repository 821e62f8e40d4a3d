from django.urls import re_path

from . import consumers

# Channels group names allow ASCII letters, digits, '-', '_' and '.'.
websocket_urlpatterns = [
    re_path(r"^ws/chat/(?P<room_name>[A-Za-z0-9_.-]{1,90})/$", consumers.ChatConsumer.as_asgi()),
]

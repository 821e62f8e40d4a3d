"""The tutorial's asynchronous ChatConsumer, plus a saved message and a sender's name."""

import json
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from .models import Message


class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.room_name = self.scope["url_route"]["kwargs"]["room_name"]
        self.room_group_name = f"chat_{self.room_name}"
        # No authentication, as in the tutorial: ?user=NAME only names the sender.
        query = parse_qs(self.scope["query_string"].decode())
        self.user = query.get("user", ["anonymous"])[0]

        # Join room group
        await self.channel_layer.group_add(self.room_group_name, self.channel_name)
        await self.accept()

    async def disconnect(self, close_code):
        # Leave room group
        await self.channel_layer.group_discard(self.room_group_name, self.channel_name)

    # Receive message from WebSocket
    async def receive(self, text_data=None, bytes_data=None):
        message = json.loads(text_data)["message"]
        await self.save_message(message)
        # Send message to room group
        await self.channel_layer.group_send(
            self.room_group_name, {"type": "chat.message", "message": message, "user": self.user}
        )

    # Receive message from room group
    async def chat_message(self, event):
        await self.send(text_data=json.dumps({"message": event["message"], "user": event["user"]}))

    @database_sync_to_async
    def save_message(self, text):
        Message.objects.create(room=self.room_name, user=self.user, text=text)

from django.db import models


class Message(models.Model):
    """Every chat message, saved before it is broadcast."""

    room = models.CharField(max_length=100)
    user = models.CharField(max_length=150)
    text = models.TextField()
    created = models.DateTimeField(auto_now_add=True)

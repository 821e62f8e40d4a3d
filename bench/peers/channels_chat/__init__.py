"""Django Channels peer: the Channels tutorial's chat with the channels_postgres layer."""

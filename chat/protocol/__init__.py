"""The WebSocket protocol (DESIGN §5, docs/protocol.md): frames in and out.

`inbound` reads what clients send (text → ChatIn, JoinIn, ...; refusals are
ChatError); `outbound` encodes what the server sends (a message or event row,
acks, notices, errors, presence). The fields both check and the message kinds
both name are the domain's (chat/domain/validate.py, chat/domain/kinds.py).

Import the module you use: `from chat.protocol import inbound, outbound`.
"""

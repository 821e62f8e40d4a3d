"""What a room's sequence holds: messages people wrote, and events that change them.

Every row of `messages` has one of these kinds (the schema's CHECK, migration
0006). A message is what someone typed (`chat`) or did (`/me waves`:
`action`); an event (edit, delete, reaction_add, reaction_remove) changes the
message its `target_seq` names and has a seq of its own; a membership event
(join, leave, add, remove) records a change of the room's members; a room
event (rename) records a change of the room itself. Queries that want
"messages people wrote" use chat/storage/queries.py `SQL_MESSAGE_KINDS`, built
from MESSAGE_KINDS here.
"""

KIND_CHAT = "chat"
KIND_ACTION = "action"
KIND_EDIT = "edit"
KIND_DELETE = "delete"
KIND_REACTION_ADD = "reaction_add"
KIND_REACTION_REMOVE = "reaction_remove"
# Membership events (migration 0013): someone joined, left, was added or removed.
KIND_JOIN = "join"
KIND_LEAVE = "leave"
KIND_ADD = "add"
KIND_REMOVE = "remove"
# Events about a message's attachments (migration 0017; target_seq the message):
# its files changed (an image's variants are ready), its link preview arrived,
# its author removed the preview.
KIND_FILES = "files"
KIND_PREVIEW = "preview"
KIND_PREVIEW_REMOVE = "preview_remove"
# Room events (migration 0016): the room was renamed; content is '<old> <new>'.
KIND_RENAME = "rename"

# Messages people wrote: what unread counts, history pages, search and export show.
MESSAGE_KINDS = (KIND_CHAT, KIND_ACTION)
# Events, each changing the message at its target_seq.
EVENT_KINDS = (
    KIND_EDIT,
    KIND_DELETE,
    KIND_REACTION_ADD,
    KIND_REACTION_REMOVE,
    KIND_FILES,
    KIND_PREVIEW,
    KIND_PREVIEW_REMOVE,
)
# Events about the room's members: no target_seq; an add or remove names its
# person (their username) in content.
MEMBER_KINDS = (KIND_JOIN, KIND_LEAVE, KIND_ADD, KIND_REMOVE)
# Events about the room itself: no target_seq.
ROOM_KINDS = (KIND_RENAME,)
ALL_KINDS = MESSAGE_KINDS + EVENT_KINDS + MEMBER_KINDS + ROOM_KINDS
# The rows whose text is shown rendered (html): messages, and edits (the new text).
RENDERED_KINDS = (*MESSAGE_KINDS, KIND_EDIT)

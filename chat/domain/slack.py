"""Slack-compatible webhook bodies as message text (docs/webhooks.md).

Alerting and CI tools (Prometheus Alertmanager, Grafana, GitLab, Jenkins, ...)
post to a "Slack webhook" a JSON object whose text is in `text`, in legacy
`attachments` (pretext, title and title_link, text, fields, footer, with
`fallback` for clients that show none of those) or in Block Kit `blocks`
(sections, headers, context lines). `text_of` turns any of these into one
Markdown message, the way Slack shows them: blocks, when they give any text,
replace `text` (which is then only the notification's fallback); attachments
come after.

Slack writes its own markup, "mrkdwn", which `markdown_of` rewrites into the
Markdown this product renders (chat/domain/render.py): `<url|label>` links,
`<!here>` and `<@U123|name>` mentions, `*bold*` and `~strike~`, and the three
HTML entities Slack asks senders to escape. Everything else (`_italic_`,
code spans and fences, `>` quotes, lists) means the same in both.

Nothing here trusts the body: a value of the wrong type is refused with
ChatError('bad_request') naming the field; the text is rendered through the
same sanitiser as any message.
"""

import html
import re

from chat.domain.errors import ChatError

# What is held aside while the text around it is rewritten, in one pass so that
# they come back in their places: code (a fence, or a span: left as sent, its
# entities decoded, as Slack shows it) and Slack's angle-bracket escapes,
# <https://example.com|label>, <mailto:a@b>, <!here>, <@U123|name>,
# <#C123|room> (a label runs to the closing bracket).
_HELD = re.compile(r"(```.*?```|`[^`\n]+`)|<([^<>|\n]*)(?:\|([^<>\n]*))?>", re.DOTALL)
_LINK_SCHEMES = ("http://", "https://", "mailto:")
# *bold* and ~strike~: a marker pair around text that neither starts nor ends
# with a space, not inside a word (2*3*4 stays as it is).
_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]*?\S)\*(?![\w*])")
_STRIKE = re.compile(r"(?<![\w~])~(?=\S)([^~\n]*?\S)~(?![\w~])")
# What a Markdown link's label must not contain unescaped.
_LABEL_SPECIALS = re.compile(r"([\[\]\\])")


def markdown_of(mrkdwn: str) -> str:
    """Slack mrkdwn as this product's Markdown (see the module's docstring).

    Code and the angle-bracket escapes are held aside (the escapes rewritten)
    while the emphasis markers and entities of the text around them are, so
    that a `*` or `~` in a URL or in code stays as it is."""
    held: list[str] = []
    # A character the text does not have, even once its entities are decoded,
    # stands for each escape meanwhile.
    probe = mrkdwn + html.unescape(mrkdwn) if "&" in mrkdwn else mrkdwn
    stand_in = next(chr(c) for c in range(0xE000, 0xF900) if chr(c) not in probe)

    def hold(match: re.Match) -> str:
        code = match.group(1)
        held.append(html.unescape(code) if code is not None else _rewrite_escape(match))
        return stand_in

    text = _HELD.sub(hold, mrkdwn) if "<" in mrkdwn or "`" in mrkdwn else mrkdwn
    text = _BOLD.sub(r"**\1**", text)
    text = _STRIKE.sub(r"~~\1~~", text)
    if "&" in text:
        text = html.unescape(text)
    if held:
        pieces = text.split(stand_in)
        text = "".join(p + r for p, r in zip(pieces[:-1], held, strict=True)) + pieces[-1]
    return text


def _rewrite_escape(match: re.Match) -> str:
    target, label = match.group(2), match.group(3)
    if target.startswith(_LINK_SCHEMES):
        url = html.unescape(target)
        if label is None or not label.strip():
            return url
        return _link(html.unescape(label), url)
    if target.startswith("!date^"):  # <!date^1392734382^{date}|Feb 18, 2014>: its text
        return label or ""
    if target.startswith("!"):  # <!here>, <!channel>, <!subteam^ID|@team>
        if label:
            return label if label.startswith("@") else f"@{label}"
        return "@" + target[1:].split("^", 1)[0]
    if target.startswith("@"):  # <@U123|name>: a Slack user, shown by name
        return f"@{label}" if label else target
    if target.startswith("#"):  # <#C123|general>: a Slack channel
        return f"#{label}" if label else target
    return match.group(0)


def _link(label: str, url: str) -> str:
    """A Markdown link; its destination in <...>, so that spaces or parentheses
    in a URL keep it one destination."""
    label = _LABEL_SPECIALS.sub(r"\\\1", label)
    return f"[{label}](<{url.replace('>', '%3E')}>)"


def text_of(payload: dict) -> str:
    """The Markdown message a Slack-style webhook body shows: blocks (or else
    `text`), then each attachment. "" when the body carries no text at all.
    Raises ChatError('bad_request') for a field of the wrong type."""
    parts = _blocks(payload.get("blocks"), "blocks")
    if not parts:
        parts = [_mrkdwn(payload, "text", "")]
    attachments = payload.get("attachments")
    if attachments is not None:
        for i, attachment in enumerate(_list(attachments, "attachments")):
            parts.append(_attachment(_object(attachment, f"attachments[{i}]"), f"attachments[{i}]"))
    return "\n\n".join(part for part in parts if part.strip())


def _attachment(attachment: dict, where: str) -> str:
    lines = [
        _mrkdwn(attachment, "pretext", where),
        _mrkdwn(attachment, "author_name", where),
        _title(attachment, where),
        _mrkdwn(attachment, "text", where),
    ]
    fields = attachment.get("fields")
    if fields is not None:
        for i, field in enumerate(_list(fields, f"{where}.fields")):
            field = _object(field, f"{where}.fields[{i}]")
            title = _mrkdwn(field, "title", f"{where}.fields[{i}]")
            value = _mrkdwn(field, "value", f"{where}.fields[{i}]")
            lines.append(f"**{title}**: {value}" if title and value else title or value)
    lines.extend(_blocks(attachment.get("blocks"), f"{where}.blocks"))
    lines.append(_mrkdwn(attachment, "footer", where))
    shown = [line for line in lines if line.strip()]
    if not shown:
        shown = [_mrkdwn(attachment, "fallback", where)]
    return "\n".join(shown)


def _title(attachment: dict, where: str) -> str:
    title = _mrkdwn(attachment, "title", where)
    link = _string(attachment.get("title_link"), f"{where}.title_link")
    if title and link.startswith(("http://", "https://")):
        return f"**{_link(title, link)}**"
    return f"**{title}**" if title else ""


def _blocks(value: object, where: str) -> list[str]:
    """The text of Block Kit blocks: section text and fields, headers (bold),
    context lines; other kinds (images, actions, dividers) show nothing."""
    if value is None:
        return []
    parts = []
    for i, block in enumerate(_list(value, where)):
        block = _object(block, f"{where}[{i}]")
        kind = block.get("type")
        if kind == "header":
            header = _text_object(block.get("text"), f"{where}[{i}].text")
            parts.append(f"**{header}**" if header else "")
        elif kind == "section":
            parts.append(_text_object(block.get("text"), f"{where}[{i}].text"))
            fields = block.get("fields")
            if fields is not None:
                for j, field in enumerate(_list(fields, f"{where}[{i}].fields")):
                    parts.append(_text_object(field, f"{where}[{i}].fields[{j}]"))
        elif kind == "context":
            elements = _list(block.get("elements", []), f"{where}[{i}].elements")
            texts = [
                _text_object(element, f"{where}[{i}].elements[{j}]")
                for j, element in enumerate(elements)
                if isinstance(element, dict) and element.get("type") in ("mrkdwn", "plain_text")
            ]
            parts.append(" · ".join(text for text in texts if text))
    return [part for part in parts if part.strip()]


def _text_object(value: object, where: str) -> str:
    """A Block Kit text object: {"type": "mrkdwn" | "plain_text", "text": "..."}."""
    if value is None:
        return ""
    value = _object(value, where)
    text = _string(value.get("text"), f"{where}.text")
    return markdown_of(text) if value.get("type") == "mrkdwn" else text


def _mrkdwn(container: dict, key: str, where: str) -> str:
    """container[key] (mrkdwn) as Markdown; `where` names the container in errors
    ("" for the body itself)."""
    return markdown_of(_string(container.get(key), f"{where}.{key}" if where else key))


def _string(value: object, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ChatError("bad_request", f"{where} must be a string")
    return value


def _list(value: object, where: str) -> list:
    if not isinstance(value, list):
        raise ChatError("bad_request", f"{where} must be a list")
    return value


def _object(value: object, where: str) -> dict:
    if not isinstance(value, dict):
        raise ChatError("bad_request", f"{where} must be an object")
    return value

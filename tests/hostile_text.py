"""Text that has broken chat servers, as Hypothesis strategies: any code point
(surrogates included), mixes weighted towards the special characters, and what of it
a URL or a form can carry. Shared by tests/web/test_inputs_fuzz.py (HTTP) and
tests/e2e/test_inputs_fuzz_e2e.py (WebSocket frames).
"""

from hypothesis import strategies as st


def in_url(text: str) -> str:
    """What a URL can carry of the text: UTF-8 cannot encode a lone surrogate."""
    return text.encode("utf-8", "replace").decode("utf-8")


# Characters that have broken chat servers: NUL, a lone surrogate, bidi
# overrides and marks, zero-width joiners and spaces, the BOM, an astral
# emoji with a skin tone, a combining mark, a line separator.
SPECIAL = [
    "\x00",
    "\ud800",
    "\udfff",
    "\u202e",
    "\u200f",
    "\u200d",
    "\u200b",
    "\ufeff",
    "👍🏽",
    "\U0001f9d1\u200d\U0001f4bb",
    "e\u0301",
    "\u2028",
    "\u0645\u0631\u062d\u0628\u0627",
]

# Any code point, surrogates included, or a mix weighted towards the specials.
any_text = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=40),
    st.lists(st.sampled_from(SPECIAL) | st.text(max_size=3), max_size=8).map("".join),
)
# What can travel in a URL or a form: every code point but surrogates (UTF-8
# cannot encode them; percent-decoding turns bad bytes into U+FFFD).
url_text = any_text.map(in_url)

"""The error every refused action raises."""


class ActionError(Exception):
    """A refused change; `code` is the stable error code clients see."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

class BillingError(Exception):
    """A refused billing operation. `message` is shown to people as it is; `code` is a
    stable identifier pages and the API can show and tests can match (snake_case)."""

    def __init__(self, message: str, *, code: str = "refused"):
        super().__init__(message)
        self.message = message
        self.code = code


# Codes used in more than one place.
PREVIEW_CHANGED = "preview_changed"
PREVIEW_CHANGED_MESSAGE = (
    "The amounts changed since your preview (your licences, your credit, an open invoice or "
    "the day changed). Check the new preview and confirm again."
)

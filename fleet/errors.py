class FleetError(Exception):
    """A refused fleet operation; the message is shown to people as it is."""

    code = "refused"

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code

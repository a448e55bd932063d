class BillingError(Exception):
    """A refused billing operation; the message is shown to people as it is."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

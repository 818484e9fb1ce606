"""The errors dakpn-aug raises for bad input: one clear message each."""


class DAKPNInputError(ValueError):
    """An image, tensor or dataset that dakpn-aug cannot use as given."""


class DAKPNCheckpointError(RuntimeError):
    """A translator bundle that is missing, corrupt, truncated or of the wrong
    format. The message names the file and the reason."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f'cannot load DA-KPN bundle {self.path!r}: {reason}')

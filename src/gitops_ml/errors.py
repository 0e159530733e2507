"""The one exception type that means "the user's input is wrong", reported without a traceback."""


class UserError(Exception):
    """Bad config, data or request: the message names the key or field at fault."""

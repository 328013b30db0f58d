"""The one exception every part of the evaluator raises, so callers catch a single type."""


class RenderError(Exception):
    """The claim or composition cannot be rendered; the message says which resource, patch and why."""

"""The errors the kfarm client raises: one base class, a time-out that names the requests still
unanswered, and a request error that names the request that failed."""
from typing import List, Optional, Sequence, Tuple

__all__ = ["KfarmError", "Timeout", "RequestError", "TopicMismatch"]


class KfarmError(Exception):
    """Base class of the kfarm client's errors."""


class TopicMismatch(KfarmError):
    """The gateway subscribes with another broadcast topic than this client sends with: its
    broadcasts would be dropped without a word."""


def _abbrev(ids: Sequence[str], n: int = 10) -> str:
    s = ", ".join(ids[:n])
    return s + (", ..." if len(ids) > n else "")


class Timeout(KfarmError):
    """No reply came within the time-out. `missing` lists the request ids still unanswered (and
    "(unsent #i)" for requests no gateway took) and `indices` their positions in the call."""

    def __init__(self, timeout_ms: int, missing: List[str], indices: List[int]) -> None:
        self.timeout_ms = timeout_ms
        self.missing = missing
        self.indices = indices
        super().__init__("no reply within %d ms; %d requests unanswered (ids %s)"
                         % (timeout_ms, len(missing), _abbrev(missing)))


ErrorEntry = Tuple[int, str, str, str]  # (index, id, kind, message)


class RequestError(KfarmError):
    """The gateway or a worker answered a request with an error. Names the first failed request
    (`id`, `index` in the call, `kind`, `message`); `errors` lists all failures of the batch as
    (index, id, kind, message), and `results` holds the batch's replies (None where failed)."""

    def __init__(self, errors: List[ErrorEntry], results: List[Optional[object]]) -> None:
        self.errors = errors
        self.results = results
        self.index, self.id, self.kind, self.message = errors[0]
        more = " (and %d more failed)" % (len(errors) - 1) if len(errors) > 1 else ""
        super().__init__("request %s (#%d, kind %r) failed: %s%s"
                         % (self.id, self.index, self.kind, self.message, more))

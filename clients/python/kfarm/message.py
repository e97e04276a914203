"""A request or broadcast as the EvKit clients build it: a kind and a JSON-encoded payload."""
import json
from typing import Any, Union

__all__ = ["Message", "MessageLike"]


class Message:
    """`kind` names the kernel; `data` is JSON-encoded as the payload (`raw=True` sends bytes or
    str as they are)."""

    __slots__ = ("kind", "data", "raw")

    def __init__(self, kind: str, data: Any, raw: bool = False) -> None:
        self.kind = kind
        self.data = data
        self.raw = raw

    def payload(self) -> bytes:
        if self.raw:
            return self.data if isinstance(self.data, bytes) else str(self.data).encode()
        return json.dumps(self.data).encode()

    def __repr__(self) -> str:
        return "Message(%r, %r%s)" % (self.kind, self.data, ", raw=True" if self.raw else "")


MessageLike = Union[Message, "tuple[str, Any]"]


def as_message(m: Any) -> Message:
    """A Message from a Message or a (kind, data) pair."""
    if isinstance(m, Message):
        return m
    kind, data = m
    return Message(kind, data)

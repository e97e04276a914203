"""Where a kfarm job listens and how to authenticate to it: the endpoint file `kfarm
--endpoint-file` writes, and ZeroMQ CURVE keys (Z85 text, as in kfarm's key files)."""
import os
import time
from dataclasses import dataclass
from typing import Dict, Optional, Union

import zmq
import zmq.utils.z85

from .errors import KfarmError, Timeout

__all__ = ["Endpoints", "read_endpoint_file", "load_key", "Curve"]

KeySource = Union[str, bytes, "os.PathLike[str]"]


@dataclass
class Endpoints:
    """What an endpoint file says: the request endpoint, the broadcast endpoint (None when the
    job has none), the gateway's CURVE public key (KFARM_CURVE_SERVER_KEY, None when the job
    does not publish it) and the metrics URL."""
    endpoint: str
    broadcast_endpoint: Optional[str] = None
    server_key: Optional[bytes] = None
    metrics_url: Optional[str] = None


def _parse(path: str) -> Dict[str, str]:
    with open(path) as f:
        return dict(line.strip().split("=", 1) for line in f if "=" in line)


def read_endpoint_file(path: str, timeout: float = 30.0) -> Endpoints:
    """Reads the endpoint file, waiting up to `timeout` seconds for it to appear (the job writes
    it, complete, once every worker is up). Raises Timeout when it does not."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            v = _parse(path)
            if "KFARM_ENDPOINT" in v:
                key = v.get("KFARM_CURVE_SERVER_KEY")
                return Endpoints(v["KFARM_ENDPOINT"], v.get("KFARM_BROADCAST_ENDPOINT") or None,
                                 key.encode() if key else None, v.get("KFARM_METRICS_URL"))
        except FileNotFoundError:
            pass
        if time.monotonic() > deadline:
            raise Timeout(int(timeout * 1000), ["(endpoint file %s)" % path], [])
        time.sleep(0.05)


def load_key(key: KeySource) -> bytes:
    """A Z85 CURVE key (40 characters) given as the key itself or as a file holding it (the first
    line that is neither empty nor a # comment, as kfarm's --curve-* files)."""
    if isinstance(key, bytes):
        text = key
    elif isinstance(key, str) and len(key) == 40 and not os.path.exists(key):
        text = key.encode()
    else:
        try:
            with open(key, "rb") as f:
                lines = [ln.strip() for ln in f if ln.strip() and not ln.startswith(b"#")]
        except OSError as e:
            raise KfarmError("CURVE key file %s: %s" % (key, e.strerror)) from None
        if not lines:
            raise KfarmError("CURVE key file %s holds no key" % key)
        text = lines[0]
    if len(text) != 40:
        raise KfarmError("CURVE key %r is not a 40-character Z85 key" % (key,))
    try:
        zmq.utils.z85.decode(text)
    except (ValueError, KeyError, IndexError):
        raise KfarmError("CURVE key %r is not valid Z85" % (key,)) from None
    return text


class Curve:
    """CURVE settings of a client.

    Bind topology (the gateway binds, the client connects): `server_key` is the gateway's public
    key; the client authenticates with `public_key`/`secret_key`, whose public half must be in
    the job's --curve-allowed-keys. EvKit topology (the client binds): give only `secret_key`;
    the client's sockets are CURVE servers and the job runs with --curve-server-key holding its
    public key."""

    def __init__(self, server_key: Optional[KeySource] = None,
                 public_key: Optional[KeySource] = None,
                 secret_key: Optional[KeySource] = None) -> None:
        self.server_key = load_key(server_key) if server_key is not None else None
        self.secret_key = load_key(secret_key) if secret_key is not None else None
        if public_key is not None:
            self.public_key: Optional[bytes] = load_key(public_key)
        elif self.secret_key is not None:
            self.public_key = zmq.curve_public(self.secret_key)
        else:
            self.public_key = None

    def apply(self, sock: "zmq.Socket", binds: bool) -> None:
        """Sets the socket's CURVE options before it binds or connects."""
        if binds:
            if self.secret_key is None:
                raise KfarmError("CURVE with a client that binds needs its secret_key")
            sock.curve_server = True
            sock.curve_secretkey = self.secret_key
            return
        if self.server_key is None:
            raise KfarmError("CURVE needs the gateway's public key: server_key=, or "
                             "KFARM_CURVE_SERVER_KEY in the endpoint file")
        if self.secret_key is None:
            raise KfarmError("CURVE needs this client's key pair (public_key=, secret_key=); its "
                             "public key must be in the job's --curve-allowed-keys")
        sock.curve_serverkey = self.server_key
        sock.curve_publickey = self.public_key
        sock.curve_secretkey = self.secret_key

"""kfarm: Python client of a kfarm service (and of any EvKit worker), on Debian's python3-zmq.

Blocking calls and futures: kfarm.Client, kfarm.as_completed. asyncio: kfarm.aio.Client.
"""
from .client import EVKIT_TOPIC, TOPIC, Client, RequestFuture, as_completed
from .endpoints import Curve, Endpoints, load_key, read_endpoint_file
from .errors import KfarmError, RequestError, Timeout, TopicMismatch
from .message import Message

__version__ = "0.1.0"
__all__ = ["Client", "Message", "RequestFuture", "as_completed", "Curve", "Endpoints",
           "load_key", "read_endpoint_file", "KfarmError", "Timeout", "RequestError",
           "TopicMismatch", "TOPIC", "EVKIT_TOPIC", "__version__"]

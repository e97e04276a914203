"""The kfarm client under its former module name, for scripts that `import kfarm_client`: the
same objects as the `kfarm` package. New code imports `kfarm`."""
from kfarm import (EVKIT_TOPIC, TOPIC, Client, KfarmError, Message,  # noqa: F401
                   RequestError, Timeout, read_endpoint_file)

__all__ = ["Client", "Message", "KfarmError", "Timeout", "RequestError", "TOPIC", "EVKIT_TOPIC",
           "read_endpoint_file"]

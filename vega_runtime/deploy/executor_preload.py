"""What every executor imports: fork servers import this module once, before forking.

Executors forked from a fork server that has imported it start running tasks
without importing the executor loop or the RDD and shuffle classes that task
payloads unpickle to.
"""

import encodings.idna  # noqa: F401  (what the first connection to a host name loads)

from ..net import tls_socket  # noqa: F401  (what the first TLS connection loads)
from ..rdd import base, sampling, shuffled, sources  # noqa: F401
from ..shuffle import reader, writer  # noqa: F401
from . import executor_main  # noqa: F401

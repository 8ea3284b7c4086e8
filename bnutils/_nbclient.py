"""Running notebooks without the missed-wake-up stall (tooling, not course material).

The tests (``tests/test_notebook_standard.py``), ``make bench-notebooks`` and
``make site`` execute notebooks with nbclient, whose kernel client waits for
replies on asyncio zmq sockets. On a busy machine such a wait can miss the
socket's wake-up (pyzmq's asyncio integration is edge-triggered) and then
sleep until its timeout although the reply arrived long ago: cells that ran in
0.2 s kept a test waiting for minutes. At the end of a timed-out wait pyzmq
polls the socket once for real, which finds the message.

So the channels here wait in short slices (:data:`SLICE_SECONDS`): a missed
wake-up costs at most one slice, and the overall timeout is unchanged.
:func:`notebook_client` builds an ``nbclient.NotebookClient`` that uses them.
jupyter_client and nbclient are imported here only, so ``import bnutils`` does
not need them.
"""

from __future__ import annotations

import time
from queue import Empty

from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from jupyter_client.manager import AsyncKernelManager
from traitlets import DottedObjectName, Type

__all__ = [
    "SLICE_SECONDS",
    "SlicedKernelClient",
    "SlicedKernelManager",
    "notebook_client",
]

#: Longest single wait on a kernel socket, in seconds.
SLICE_SECONDS = 0.5


class SlicedChannel(AsyncZMQSocketChannel):
    """A kernel channel whose ``get_msg`` waits in slices of at most
    :data:`SLICE_SECONDS`, up to the caller's timeout (None: forever)."""

    async def get_msg(self, timeout: float | None = None) -> dict:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = SLICE_SECONDS
            if deadline is not None:
                left = min(left, max(deadline - time.monotonic(), 0.0))
            try:
                return await super().get_msg(timeout=left)
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise


class SlicedKernelClient(AsyncKernelClient):
    """nbclient's kernel client, with :class:`SlicedChannel` channels."""

    shell_channel_class = Type(SlicedChannel)  # type: ignore[assignment]
    iopub_channel_class = Type(SlicedChannel)  # type: ignore[assignment]
    stdin_channel_class = Type(SlicedChannel)  # type: ignore[assignment]
    control_channel_class = Type(SlicedChannel)  # type: ignore[assignment]


class SlicedKernelManager(AsyncKernelManager):
    """nbclient's kernel manager, handing out :class:`SlicedKernelClient`."""

    client_class = DottedObjectName("bnutils._nbclient.SlicedKernelClient")
    client_factory = Type(SlicedKernelClient)  # type: ignore[assignment]


def notebook_client(nb, **kwargs):
    """``nbclient.NotebookClient(nb, **kwargs)`` (kernel ``python3`` unless
    given) whose kernel client is a :class:`SlicedKernelClient`. The client
    creates, owns and shuts down its kernel as usual."""
    from nbclient import NotebookClient

    kwargs.setdefault("kernel_name", "python3")
    return NotebookClient(nb, kernel_manager_class=SlicedKernelManager, **kwargs)

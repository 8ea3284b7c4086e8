"""The notebook runner's kernel channels wait in short slices (bnutils._nbclient).

A missed socket wake-up must cost at most one slice, never the whole timeout,
and the caller's timeout must still hold.
"""

from __future__ import annotations

import asyncio
import time
from queue import Empty

import pytest
from jupyter_client.channels import AsyncZMQSocketChannel

from bnutils import _nbclient


class _Missed:
    """Stands in for the socket wait: the first ``misses`` waits end without a
    message (a missed wake-up, found only when a slice ends), then one comes."""

    def __init__(self, misses: int):
        self.misses = misses
        self.timeouts: list[float | None] = []

        async def get_msg(channel, timeout=None):
            self.timeouts.append(timeout)
            if len(self.timeouts) <= self.misses:
                raise Empty
            return {"msg": len(self.timeouts)}

        self.get_msg = get_msg


@pytest.fixture
def fake(monkeypatch):
    def install(misses):
        f = _Missed(misses)
        monkeypatch.setattr(AsyncZMQSocketChannel, "get_msg", f.get_msg)
        monkeypatch.setattr(_nbclient, "SLICE_SECONDS", 0.01)
        return f

    return install


def _channel():
    return object.__new__(_nbclient.SlicedChannel)


def test_a_missed_wake_up_costs_one_slice(fake):
    f = fake(misses=3)
    msg = asyncio.run(_channel().get_msg(timeout=600))
    assert msg == {"msg": 4}
    assert len(f.timeouts) == 4 and all(t <= 0.01 for t in f.timeouts)


def test_waiting_forever_is_done_in_slices(fake):
    f = fake(misses=5)
    assert asyncio.run(_channel().get_msg(timeout=None)) == {"msg": 6}
    assert all(t == 0.01 for t in f.timeouts)


def test_the_overall_timeout_still_raises_empty(fake):
    f = fake(misses=10**9)
    t0 = time.monotonic()
    with pytest.raises(Empty):
        asyncio.run(_channel().get_msg(timeout=0.05))
    waited = time.monotonic() - t0
    assert waited >= 0.05  # not before the deadline
    assert len(f.timeouts) >= 2  # in slices
    assert all(t <= 0.01 for t in f.timeouts)


def test_the_runner_uses_the_sliced_client():
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 6 * 7\nx")])
    client = _nbclient.notebook_client(nb, timeout=120)
    with client.setup_kernel():
        assert isinstance(client.kc, _nbclient.SlicedKernelClient)
        assert isinstance(client.kc.shell_channel, _nbclient.SlicedChannel)
        client.execute_cell(nb.cells[0], 0)
    assert nb.cells[0].outputs[0]["data"]["text/plain"] == "42"

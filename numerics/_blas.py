"""BLAS threading, scoped."""
from __future__ import annotations

import contextlib

#: how deep the calling code is in serial_blas blocks: an inner block changes nothing (setting the
#: limit scans the loaded libraries, ~4 ms, which per claim added up to a second of a run)
_DEPTH = [0]


@contextlib.contextmanager
def serial_blas():
    """Run the block with one BLAS thread.

    flowcert works on many small matrices (a 200 x 200 eigen-solve takes 2 ms on one thread and
    16 ms on two contending ones here), so threads cost more than they give. Blocks nest; a
    process forked inside one keeps its limit.
    """
    if _DEPTH[0]:
        _DEPTH[0] += 1
        try:
            yield
        finally:
            _DEPTH[0] -= 1
        return
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=1, user_api="blas"):
        _DEPTH[0] += 1
        try:
            yield
        finally:
            _DEPTH[0] -= 1

"""BLAS threading, scoped."""
from __future__ import annotations

import contextlib


@contextlib.contextmanager
def serial_blas():
    """Run the block with one BLAS thread.

    flowcert works on many small matrices (a 200 x 200 eigen-solve takes 2 ms on one thread and
    16 ms on two contending ones here), so threads cost more than they give.
    """
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=1, user_api="blas"):
        yield

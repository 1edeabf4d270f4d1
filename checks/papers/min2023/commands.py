"""``flowcert bound`` and ``flowcert flow``: min2023's bounds and gradient flow on a linear network's
weights from a file. Only the options live here (parsed on every ``flowcert`` call, so this module
imports nothing heavy); the work is in :mod:`.bound` and :mod:`.flow`."""
from __future__ import annotations

from flowcert.checks import Command
from flowcert.checks._args import digits, positive_int

__all__ = ["COMMANDS"]

#: bound name -> what it is (``flowcert bound --help`` lists them)
BOUNDS = {
    "two-layer": "alpha2, Theorem 1(ii) with the proof's 1/2 (L = 2; needs --target)",
    "three-layer": "Delta*, Theorem 2 eq. (15) (L = 3)",
    "deep": "Theorem 3: prod d~(i), unimodal weights; homogeneous imbalance adds the sigma_min term (L >= 4)",
    "lambda-min-T": "lambda_min of Lemma 1's operator T (any depth)",
}


def _bound_arguments(s) -> None:
    s.add_argument("name", choices=list(BOUNDS),
                   help="; ".join(f"{k}: {v}" for k, v in BOUNDS.items()))
    s.add_argument("--weights", required=True, metavar="FILE.npz", help="arrays W1, W2, ..., WL")
    s.add_argument("--target", metavar="FILE.npy", help="the target Y (n x m), for two-layer")
    s.add_argument("--dps", type=digits,
                   help="digits of the printed value (at most 10000; default 30; with --certify, the digits "
                        "the certificate decides)")
    s.add_argument("--certify", action="store_true",
                   help="enclose the bound in ball arithmetic (Arb) and certify it > 0; exit 0 certified, "
                        "1 disproved, 3 undecided")
    s.add_argument("--json", action="store_true")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")


def _flow_arguments(s) -> None:
    s.add_argument("--weights", required=True, metavar="FILE.npz", help="initial W1, W2, ..., WL")
    s.add_argument("--target", required=True, metavar="FILE.npy", help="the target Y (n x m)")
    s.add_argument("--t-end", required=True, metavar="T", help="integrate on [0, T]")
    s.add_argument("--dps", type=digits, help="digits (at most 10000; default: float64)")
    s.add_argument("--backend", choices=["flint", "mpmath", "numpy", "heyoka"])
    s.add_argument("--samples", type=positive_int, default=11, help="loss samples on [0, T]")
    s.add_argument("--out", metavar="FILE.npz", help="save the final weights W1 .. WL (float64) here")
    s.add_argument("--trajectory", action="store_true", help="with --out: also the weights at every sample time")
    s.add_argument("--certify", action="store_true",
                   help="prove where the exact flow is: a validated Taylor integration in Arb (--dps digits, "
                        "default 30) enclosing the weights on all of [0, T], the loss's range and, where a "
                        "bound applies, its envelope; exit 0 certified to T, 3 uncertified past some time")
    s.add_argument("--max-seconds", type=float, metavar="S",
                   help="with --certify: stop after S seconds (uncertified past the time reached)")
    s.add_argument("--json", action="store_true", help="everything as JSON, every final weight included")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")


COMMANDS = (
    Command("bound", "evaluate a min2023 rate bound on given weights", _bound_arguments,
            "flowcert.checks.papers.min2023.bound:main"),
    Command("flow", "integrate the gradient flow from given weights; loss beside min2023's bound",
            _flow_arguments, "flowcert.checks.papers.min2023.flow:cmd_flow"),
)

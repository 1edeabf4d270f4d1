"""The claims of the papers, the strategies that draw their inputs, the runner and the CLI."""
from ._claim import PROVENANCES, STATUSES, Claim, Verdict, certified_verdict
from ._experiment import EXPERIMENTS, Experiment, UsageError
from ._registry import CLAIMS, PAPERS, load, register, select
from ._runner import PROFILES, Result, RunOptions, Skip, options, replay, run, run_claim

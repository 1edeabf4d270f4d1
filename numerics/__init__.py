"""Numbers from theory objects: any precision, float64 for speed, integrators and simulators.

Knows no paper: it evaluates what theory/ hands it.
"""
from ._precision import FLOAT64_DPS, asarray, check_dps, current_dps, eps, is_mp, scalar, workdps
from ._matexpr import compile_matrix
from ._spectral import Evaluator, eigenvalues, evaluate, frobenius, singular_values
from ._init import SCHEMES, check_widths, sample_weights
from ._integrate import IntegrationError, Solution, solve
from ._integrate import compile_field, expr_observer
from ._descent import DivergenceError, Trajectory, chain_gradients, descend
from ._blas import serial_blas
from ._certify import (CertifiedEvaluator, Certificate, certified_eigenvalues, certify, certify_bound,
                       decide, exact_ball, fmt_ball)
from ._piecewise import PiecewisePoly, Template, UnitNetwork, cell_projection, mesh, step_function
from ._sgd import SGDRun, compile_kernels, have_numba, online_sgd
from ._events import EventSolution, solve_events
from ._exact import (exact, householder, rank_one_chain, rank_one_factors, rational_orthogonal, rational_unit,
                     stereographic, to_backend)
from ._batch import BatchTrajectory, batch_losses, descend_batch
from ._additive import AdditiveFit, AdditiveUnits, FitRun
from ._validated import FlowEnclosure, PathCheck, ball_matrix, certify_flow

__all__ = ["AdditiveFit", "AdditiveUnits", "asarray", "batch_losses", "BatchTrajectory", "cell_projection", "Certificate",
           "certified_eigenvalues", "CertifiedEvaluator", "certify", "certify_bound", "certify_flow", "FlowEnclosure", "PathCheck", "ball_matrix", "chain_gradients",
           "check_dps", "check_widths", "compile_field", "compile_kernels", "compile_matrix", "current_dps", "decide",
           "descend", "descend_batch", "DivergenceError", "eigenvalues", "eps", "evaluate", "Evaluator",
           "EventSolution", "exact", "FitRun", "exact_ball", "expr_observer", "FLOAT64_DPS", "fmt_ball", "frobenius",
           "have_numba", "householder", "IntegrationError", "is_mp", "mesh", "online_sgd", "PiecewisePoly",
           "rank_one_chain", "rank_one_factors", "rational_orthogonal", "rational_unit", "sample_weights",
           "scalar", "SCHEMES", "serial_blas", "SGDRun", "singular_values", "Solution", "solve",
           "solve_events", "step_function", "stereographic", "Template", "to_backend", "Trajectory",
           "UnitNetwork", "workdps"]


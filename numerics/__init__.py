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
from ._sgd import SGDRun, have_numba, online_sgd
from ._events import EventSolution, solve_events
from ._exact import (exact, householder, rank_one_chain, rank_one_factors, rational_orthogonal, rational_unit,
                     stereographic, to_backend)
from ._batch import BatchTrajectory, batch_losses, descend_batch

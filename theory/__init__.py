"""Exact objects: models defined by their loss, flows, invariants and bounds derived by SymPy."""
from ._printing import LATEX_SETTINGS, latex
from ._notation import (MIN, Approx, Chain, Ddt, DiagOf, Eig, Frob, Grad, Listing, Norm, Partial, Sing, Tends,
                        Wedge, eq, func, ge, gt, le, lt, mat, ne, sym)
from ._parse import ParseError, compare, parse
from ._laws import (MODELS, Law, LawsResult, Model, Trace, conservation_laws, is_law, linear_model, relu_model,
                    search_laws, shallow_limit_model, shallow_model, trace_dimension)
from ._linear import DerivationError, LinearNetwork, diff_termwise
from ._bounds import (D21_SHOWN, D23_SHOWN, D_TILDE, DELTA, DELTA_M, DELTA_P, DELTA_STAR, NU_M, NU_N, T_OPERATOR,
                      D_of, definition2)
from ._bounds import W_ as W_SHOWN
from ._bounds import (SQUARED_LOSS, Bound, Ops, Spectral, definition2_parts, definition2_dbar, alpha2, balanced, delta_star, delta_star_formula,
                      delta_two_layer, g_three_layer, gamma, lambda_min_T, lemma3_rhs, loss_envelope,
                      theorem3_homogeneous, theorem3_unimodal, three_layer_imbalances,
                      two_layer_closed_form)
from ._invariants import (InvariantSpace, NetworkInvariants, find_quadratic_invariants,
                          linear_network_invariants)
from ._shallow import (SIGMA, SIGMA_CODE, TARGETS, CellLimit, ShallowNetwork, StepTarget, integrate_exact,
                       piecewise_polynomial, to_piecewise)
from ._additive import ACTIVATIONS, RELU, AdditiveNetwork
from ._rank_one import (ChenNetwork, RankOneReduction, chen_network, coordinate_residuals, critical_loss,
                        end_to_end_residuals, limit_index, linear_rate, normal_form, null_both_sides_constant, null_both_sides_exponent,
                        origin_escape_time, origin_exponents, origin_sandwich, origin_sandwich_residual,
                        origin_slopes, origin_ydot, rank_one, saddle_growth_rate,
                        tau_time_residuals)

__all__ = ["ACTIVATIONS", "AdditiveNetwork", "RELU", "Approx", "Chain", "Ddt", "DiagOf", "Eig", "eq", "Frob", "func", "ge", "Grad", "gt", "le", "Listing",
           "lt", "mat", "MIN", "ne", "Norm", "ParseError", "Partial", "Sing", "sym", "Tends", "Wedge", "compare",
           "parse", "D21_SHOWN", "D23_SHOWN", "D_TILDE", "DELTA", "DELTA_M", "DELTA_P", "DELTA_STAR", "NU_M", "NU_N",
           "T_OPERATOR", "W_SHOWN", "D_of", "definition2",
           "MODELS", "Ops", "definition2_parts", "definition2_dbar", "Law", "LawsResult", "Model", "Trace", "conservation_laws", "is_law", "linear_model", "relu_model",
           "search_laws", "shallow_limit_model", "shallow_model", "trace_dimension",
           "alpha2", "balanced", "Bound", "CellLimit", "chen_network", "ChenNetwork", "coordinate_residuals",
           "critical_loss", "delta_star", "end_to_end_residuals", "delta_star_formula", "delta_two_layer", "DerivationError",
           "diff_termwise", "find_quadratic_invariants", "g_three_layer", "gamma", "integrate_exact",
           "InvariantSpace", "lambda_min_T", "latex", "LATEX_SETTINGS", "lemma3_rhs", "limit_index",
           "linear_network_invariants", "linear_rate", "LinearNetwork", "loss_envelope", "NetworkInvariants",
           "normal_form", "null_both_sides_constant", "null_both_sides_exponent", "origin_escape_time",
           "origin_exponents", "origin_sandwich", "origin_slopes", "origin_ydot",
           "origin_sandwich_residual", "piecewise_polynomial", "rank_one", "RankOneReduction",
           "saddle_growth_rate", "ShallowNetwork", "SIGMA", "SIGMA_CODE", "Spectral", "SQUARED_LOSS",
           "StepTarget", "TARGETS", "tau_time_residuals", "theorem3_homogeneous", "theorem3_unimodal",
           "three_layer_imbalances", "to_piecewise", "two_layer_closed_form"]


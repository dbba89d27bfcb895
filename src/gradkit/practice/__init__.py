"""The lectures' recipe, executable: runs, plots, search, doctor and the other tools."""

# Hyper-parameter search (Optuna and Dask are imported only when a search runs).
from gradkit.practice.search import SearchResult, search  # noqa: F401

# The notes' practitioner's toolbox: the 7-step recipe, the learning-rate range test, layer
# statistics, ensembles and linear regions (matplotlib is imported only when a plot is drawn).
from gradkit.practice import regions as linear_regions  # noqa: F401
from gradkit.practice.doctor import DoctorReport, StepResult, doctor  # noqa: F401
from gradkit.practice.ensemble import Ensemble, EnsembleRun, train_ensemble  # noqa: F401
from gradkit.practice.layer_stats import (LayerStat, LayerStats, layer_stats,  # noqa: F401
                                          plot_layer_stats)
from gradkit.practice.mc_dropout import MCDropoutPrediction, predict_mc_dropout  # noqa: F401
from gradkit.practice.lr_finder import LRFinderResult, lr_range_test, plot_lr_finder  # noqa: F401
from gradkit.practice.regions import (count_regions, plot_decision_boundary,  # noqa: F401
                                      upper_bound)

"""Figures and reports of s3delta sweeps, read through `orchestrator.results.client.Client`.

One module per figure: `forest` (paired differences with their intervals),
`score_vs_budget`, `pareto`, `heatmap` (keep-probabilities and chosen structure),
`budget_split`, `trajectory`; `report.write_report` assembles them
into one offline HTML page plus PNGs and logs both to the sweep's parent run.
"""

from dashboards.budget_split import budget_split_figure
from dashboards.candidate_names import CandidateNameError, Position, parse_position
from dashboards.forest import forest_figure
from dashboards.heatmap import probability_heatmap_figure
from dashboards.pareto import pareto_figure, pareto_front
from dashboards.report import ReportFiles, write_report
from dashboards.score_vs_budget import score_vs_budget_figure
from dashboards.trajectory import trajectory_figure

__all__ = [
    "CandidateNameError",
    "Position",
    "ReportFiles",
    "budget_split_figure",
    "forest_figure",
    "pareto_figure",
    "pareto_front",
    "parse_position",
    "probability_heatmap_figure",
    "score_vs_budget_figure",
    "trajectory_figure",
    "write_report",
]

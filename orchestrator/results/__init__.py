"""The read side: what sweeps recorded in MLflow, as tables, comparisons, costs and text.

- `client`: `Client`, the Python API over one MLflow experiment (README "Python");
- `query`: MLflow filters (the one quoting helper), paging, the layout's tag names and
  MLflow's limits;
- `comparison`, `comparison_types`, `paired`: the paired comparison by seed and its
  statistics (no MLflow); `comparison_metrics`: the comparison as MLflow metric names;
  `sequential`: seeds until decided (the group-sequential statistics, no MLflow);
- `run_ids`: the run ids `results --json` lists for `s3delta export`;
- `costs`: what a sweep cost; `structure_metrics`: a structure as filterable metrics;
- `subspace`: the tables of a subspace sweep; `text`: results as text for people.

Kept light on purpose (nothing imported here): `validate` and the pure statistics must
not pull MLflow or pandas in through this package.
"""

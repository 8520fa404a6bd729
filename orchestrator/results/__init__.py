"""The read side: what sweeps recorded in MLflow, as tables, comparisons, costs and text.

- `client`: `Client`, the Python API over one MLflow experiment (README "Python");
- `query`: MLflow filters (the one quoting helper), paging, the layout's tag names;
- `comparison`, `comparison_types`, `paired`: the paired comparison by seed and its
  statistics (no MLflow); `comparison_metrics`: the comparison as MLflow metric names;
- `costs`: what a sweep cost; `structure_metrics`: a structure as filterable metrics;
- `subspace`: the tables of a subspace sweep; `text`: results as text for people.

Kept light on purpose (nothing imported here): `validate` and the pure statistics must
not pull MLflow or pandas in through this package.
"""

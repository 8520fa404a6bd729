"""Running sweeps: Ray for trials, Optuna per cell, MLflow for the records.

Start a sweep file with `orchestrator.kinds.run_sweep_file` (what `s3delta run` calls;
it runs the file as the kind it is); `driver.run_sweep` runs a loaded search sweep.
Kept light on purpose (nothing imported here): its light modules (`outcome`, `lock`,
`inventory`) must not load Ray through this package.
"""

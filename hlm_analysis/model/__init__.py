"""The model stage: the exact linear mixed-model criterion, verified optima, the ladder of models,
and the statistics computed from them. Its output is `results.Results` and nothing else."""

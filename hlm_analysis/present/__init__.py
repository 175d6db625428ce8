"""The presentation stage: tables, figures and narrative from `results.Results` alone (never the
data file, never the model code); `document.ReportDocument` is what the report's cells call."""

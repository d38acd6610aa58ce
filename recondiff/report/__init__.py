"""The analysts' report: report.json's data and report.html's rendering (docs/report.md)."""

"""The controller's monthly report: its figures, chart, spreadsheet, and delivery in Slack."""

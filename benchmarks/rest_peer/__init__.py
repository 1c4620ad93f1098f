"""The classic FastAPI prediction service, rebuilt as the REST benchmark peer (see app.py)."""

"""Bridges between Signoff and the tools teams already run (MLflow), each off until configured."""

"""MLflow, both ways: its REST API (rest.py) and its webhook signature (signature.py), neither importing Django."""

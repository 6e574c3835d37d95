"""Derived metrics: the data point model, the exactly-once publisher, dashboards and the cost guard."""

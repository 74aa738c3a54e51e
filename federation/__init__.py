"""Federated averaging and secure aggregation. Never imports agents or pybridge."""

"""3GPP TR 38.901 InF channel models and spatially correlated fields (numpy)."""

"""HTTP edge shared by every module: policies, problem+json, pagination."""

"""Loaders: raw CloudTrail wherever it lives -> records -> normalized events -> graph facts."""

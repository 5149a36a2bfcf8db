"""``graphtrail ingest --follow``: fetch only the lineage of a few seeds, round by round."""

"""graphtrail: session-precise attack-path analysis for AWS CloudTrail."""

__version__ = "0.1.0"

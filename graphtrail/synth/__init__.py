"""Synthetic CloudTrail with known answers: volume for benchmarks, attacks for tests.

* :mod:`graphtrail.synth.records` -- record and identity builders (deterministic per seed).
* :mod:`graphtrail.synth.trails` -- :func:`write_trail`: an organization trail of any size in
  the S3 delivery layout, with digest files.
* :mod:`graphtrail.synth.scenarios` -- :func:`build_scenario`: a multi-account attack among
  benign look-alikes, and the :class:`GroundTruth` an analyzer must reproduce.
* :mod:`graphtrail.synth.identities` -- :func:`build_identities`: console sessions, IAM
  Identity Center, workloads (Lambda, EC2, EKS, GitHub OIDC), SAML and federation tokens,
  each lineage with its known eventIDs and the look-alikes that must stay out of it.
"""

from graphtrail.synth.scenarios import GroundTruth, Hop, build_scenario
from graphtrail.synth.trails import TrailStats, write_trail

__all__ = ["GroundTruth", "Hop", "TrailStats", "build_scenario", "write_trail"]

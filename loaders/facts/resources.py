"""What each call touched: one resource id per event, extracted in bulk.

The record's ``resources`` ARNs come first; otherwise the request parameter that names
the object of the call (bucket, secret, parameter, function, instance, snapshot, trail,
detector, key...). S3 object calls are counted against their bucket, so a million
GetObject calls make one edge with a count, not a million nodes. Calls that name nothing
(List*, Describe* on a whole service) touch ``<service>:<account>:*``.

Extraction runs as Arrow regular expressions over the JSON text: no per-event parsing.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["resource_ids", "RESOURCE_PARAMETERS"]

# Request parameters that name the resource of a call, most specific first.
RESOURCE_PARAMETERS = (
    ("bucketName", "s3"),
    ("secretId", None),
    ("functionName", None),
    ("policyArn", None),
    ("roleArn", None),
    ("trailName", None),
    ("detectorId", None),
    ("snapshotId", None),
    ("imageId", None),
    ("instanceId", None),
    ("volumeId", None),
    ("groupId", None),
    ("keyId", None),
    ("logGroupName", None),
    ("stackName", None),
    ("clusterName", None),
    ("dBSnapshotIdentifier", None),
    ("dBInstanceIdentifier", None),
    ("roleName", "role"),
    ("userName", "user"),
    ("groupName", None),
    ("name", None),
)


def _param(rp: pa.Array, key: str) -> pa.Array:
    pattern = '"' + key + r'"\s*:\s*"(?P<v>[^"]+)"'
    return pc.struct_field(pc.extract_regex(rp, pattern), [0])


def resource_ids(ev: pa.Table) -> pa.Array:
    """One resource id per row (never null).

    Needs columns ``resources``, ``request_parameters``, ``event_source``,
    ``recipient_account_id``, ``account_id``.

    >>> t = pa.table({"resources": [None, '[{"ARN": "arn:aws:s3:::b/k", "type": "AWS::S3::Object"}]', None],
    ...   "request_parameters": ['{"bucketName": "logs", "key": "a.txt"}', None, None],
    ...   "event_source": ["s3.amazonaws.com", "s3.amazonaws.com", "ec2.amazonaws.com"],
    ...   "recipient_account_id": ["111122223333"] * 3, "account_id": [None] * 3})
    >>> resource_ids(t).to_pylist()
    ['arn:aws:s3:::logs', 'arn:aws:s3:::b', 'ec2:111122223333:*']
    """
    def col(name: str) -> pa.Array:
        return ev.column(name).combine_chunks().cast(pa.string())

    res, rp, src = col("resources"), col("request_parameters"), col("event_source")
    acct = pc.coalesce(col("recipient_account_id"), col("account_id"), pa.scalar("unknown"))
    svc = pc.coalesce(pc.replace_substring(src, ".amazonaws.com", ""), pa.scalar("aws"))

    arn = pc.struct_field(pc.extract_regex(res, r'"ARN"\s*:\s*"(?P<v>arn:[^"]+)"'), [0])
    # S3 objects count against their bucket.
    arn = pc.if_else(pc.fill_null(pc.starts_with(arn, "arn:aws:s3:::"), False),
                     pc.replace_substring_regex(arn, r"^(arn:aws:s3:::[^/]+)/.*$", r"\1"), arn)
    out = arn
    for key, kind in RESOURCE_PARAMETERS:
        if pc.all(pc.is_valid(out)).as_py():
            break
        v = _param(rp, key)
        if kind == "s3":
            v = pc.binary_join_element_wise("arn:aws:s3:::", v, "")
        elif kind in ("role", "user"):
            v = pc.binary_join_element_wise("arn:aws:iam::", acct, f":{kind}/", v, "")
        else:
            local = pc.binary_join_element_wise(svc, acct, v, ":")
            v = pc.if_else(pc.fill_null(pc.starts_with(v, "arn:"), False), v, local)
        out = pc.coalesce(out, v)
    whole = pc.binary_join_element_wise(svc, acct, "*", ":")
    return pc.coalesce(out, whole)

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

# Request parameters that name the resource of a call. One regular expression finds the
# first of them in the request text (in the order the call wrote them), in one pass.
RESOURCE_PARAMETERS = (
    "bucketName", "secretId", "functionName", "policyArn", "roleArn", "trailName",
    "detectorId", "snapshotId", "imageId", "instanceId", "volumeId", "groupId", "keyId",
    "logGroupName", "stackName", "clusterName", "dBSnapshotIdentifier",
    "dBInstanceIdentifier", "roleName", "userName", "groupName", "name",
)
_PARAM_RE = '"(?P<k>' + "|".join(RESOURCE_PARAMETERS) + r')"\s*:\s*"(?P<v>[^"]+)"'
_ARN_RE = r'"ARN"\s*:\s*"(?P<v>arn:[^"]+)"'
_FIRST_RE = r'^\{"(?P<k>[^"]+)":"(?P<v>[^"]*)"'
_KEYS = pa.array(RESOURCE_PARAMETERS)


def _first_resource_parameter(rp: pa.Array) -> tuple[pa.Array, pa.Array]:
    """(parameter name, value) naming the resource of each call, or nulls.

    Most calls name their resource first (``{"bucketName":...``): a simple anchored
    capture finds it. Only the other rows go through the slower alternation search.
    """
    first = pc.extract_regex(rp, _FIRST_RE)
    key, value = pc.struct_field(first, [0]), pc.struct_field(first, [1])
    hit = pc.fill_null(pc.is_in(key, _KEYS), False)
    rest = pc.and_(pc.invert(hit), pc.is_valid(rp))
    key = pc.if_else(hit, key, pa.scalar(None, pa.string()))
    value = pc.if_else(hit, value, pa.scalar(None, pa.string()))
    if pc.any(rest).as_py():
        found = pc.extract_regex(rp.filter(rest), _PARAM_RE)
        key = pc.replace_with_mask(key, rest, pc.struct_field(found, [0]))
        value = pc.replace_with_mask(value, rest, pc.struct_field(found, [1]))
    return key, value


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

    res, rp = col("resources"), col("request_parameters")
    arn = pc.struct_field(pc.extract_regex(res, _ARN_RE), [0])
    # S3 objects count against their bucket.
    obj = pc.fill_null(pc.starts_with(arn, "arn:aws:s3:::"), False)
    if pc.any(obj).as_py():
        arn = pc.replace_with_mask(arn, obj, pc.replace_substring_regex(
            arn.filter(obj), r"^(arn:aws:s3:::[^/]+)/.*$", r"\1"))
    # The rest is made for the calls without an ARN only (a third of them have one), each
    # string built once for the rows that take it, not for every row and then chosen.
    rest = pc.is_null(arn)
    if not pc.any(rest).as_py():
        return arn
    sub = ev.select(["recipient_account_id", "account_id", "event_source"]).filter(rest)
    acct = pc.coalesce(_text(sub, "recipient_account_id"), _text(sub, "account_id"),
                       pa.scalar("unknown"))
    svc = pc.coalesce(pc.replace_substring(_text(sub, "event_source"), ".amazonaws.com", ""),
                      pa.scalar("aws"))
    key, value = _first_resource_parameter(rp.filter(rest))
    s3 = pc.binary_join_element_wise("arn:aws:s3:::", value, "")
    iam = pc.binary_join_element_wise("arn:aws:iam::", acct, ":",
                                      pc.if_else(pc.equal(key, "roleName"), pa.scalar("role/"),
                                                 pa.scalar("user/")), value, "")
    local = pc.if_else(pc.fill_null(pc.starts_with(value, "arn:"), False), value,
                       pc.binary_join_element_wise(svc, acct, value, ":"))
    param = pc.case_when(pc.make_struct(pc.equal(key, "bucketName"),
                                        pc.is_in(key, pa.array(["roleName", "userName"]))),
                         s3, iam, local)
    whole = pc.binary_join_element_wise(svc, acct, "*", ":")
    return pc.replace_with_mask(arn, rest, pc.coalesce(param, whole))


def _text(t: pa.Table, name: str) -> pa.Array:
    return t.column(name).combine_chunks().cast(pa.string())

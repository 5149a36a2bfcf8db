"""The CloudTrail table of the AWS documentation, declared once, and built from raw records.

Columns and struct fields as in "Creating the table for CloudTrail logs in Athena using
partition projection": names lower-cased, ``userIdentity`` and ``resources`` structs,
``requestParameters``, ``responseElements`` and the other free-form fields JSON text,
partitioned by ``timestamp`` (``yyyy/MM/dd``). Each entry names the record field it comes
from, so an engine that reads raw records (DuckDB, Spark) can build the same table, and
:func:`record_of_row` can turn a row back into a record (Athena, which has no raw record).

:func:`table_select` writes the ``SELECT`` list that builds the table from a column ``r``
holding one record as JSON text, for DuckDB or Spark; the raw record is kept as ``_record``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Column", "CLOUDTRAIL_COLUMNS", "table_select", "table_columns", "RECORD_COLUMN"]

RECORD_COLUMN = "_record"  # the raw record, where the engine has it


@dataclass(frozen=True)
class Column:
    """One column (or struct field): its name, the record field, its type.

    ``kind``: ``string`` (a scalar, as text), ``json`` (any JSON value, as its text),
    ``map`` (string to string), ``struct`` (``fields``), ``structs`` (an array of them).
    """

    name: str
    field: str
    kind: str = "string"
    fields: tuple[Column, ...] = ()


def _s(name: str, field: str, kind: str = "string", *fields: Column) -> Column:
    return Column(name, field, kind, tuple(fields))


CLOUDTRAIL_COLUMNS: tuple[Column, ...] = (
    _s("eventversion", "eventVersion"),
    _s("useridentity", "userIdentity", "struct",
       _s("type", "type"), _s("principalid", "principalId"), _s("arn", "arn"),
       _s("accountid", "accountId"), _s("invokedby", "invokedBy"),
       _s("accesskeyid", "accessKeyId"), _s("username", "userName"),
       _s("onbehalfof", "onBehalfOf", "struct",
          _s("userid", "userId"), _s("identitystorearn", "identityStoreArn")),
       _s("sessioncontext", "sessionContext", "struct",
          _s("attributes", "attributes", "struct",
             _s("mfaauthenticated", "mfaAuthenticated"), _s("creationdate", "creationDate")),
          _s("sessionissuer", "sessionIssuer", "struct",
             _s("type", "type"), _s("principalid", "principalId"), _s("arn", "arn"),
             _s("accountid", "accountId"), _s("username", "userName")),
          _s("ec2roledelivery", "ec2RoleDelivery"),
          _s("webidfederationdata", "webIdFederationData", "struct",
             _s("federatedprovider", "federatedProvider"),
             _s("attributes", "attributes", "map")))),
    _s("eventtime", "eventTime"),
    _s("eventsource", "eventSource"),
    _s("eventname", "eventName"),
    _s("awsregion", "awsRegion"),
    _s("sourceipaddress", "sourceIPAddress"),
    _s("useragent", "userAgent"),
    _s("errorcode", "errorCode"),
    _s("errormessage", "errorMessage"),
    _s("requestparameters", "requestParameters", "json"),
    _s("responseelements", "responseElements", "json"),
    _s("additionaleventdata", "additionalEventData", "json"),
    _s("requestid", "requestID"),
    _s("eventid", "eventID"),
    _s("readonly", "readOnly"),
    _s("resources", "resources", "structs",
       _s("arn", "ARN"), _s("accountid", "accountId"), _s("type", "type")),
    _s("eventtype", "eventType"),
    _s("apiversion", "apiVersion"),
    _s("recipientaccountid", "recipientAccountId"),
    _s("serviceeventdetails", "serviceEventDetails", "json"),
    _s("sharedeventid", "sharedEventID"),
    _s("vpcendpointid", "vpcEndpointId"),
    _s("vpcendpointaccountid", "vpcEndpointAccountId"),
    _s("eventcategory", "eventCategory"),
    _s("addendum", "addendum", "struct",
       _s("reason", "reason"), _s("updatedfields", "updatedFields"),
       _s("originalrequestid", "originalRequestID"), _s("originaleventid", "originalEventID")),
    _s("sessioncredentialfromconsole", "sessionCredentialFromConsole"),
    _s("edgedevicedetails", "edgeDeviceDetails", "json"),
    _s("tlsdetails", "tlsDetails", "struct",
       _s("tlsversion", "tlsVersion"), _s("ciphersuite", "cipherSuite"),
       _s("clientprovidedhostheader", "clientProvidedHostHeader")),
)


def table_select(dialect: str, record: str = "r") -> str:
    """The ``SELECT`` list building the documented table from ``record`` (JSON text).

    >>> "json_extract_string(r, '$.eventID') AS eventid" in table_select("duckdb")
    True
    >>> "get_json_object(r, '$.eventID') AS eventid" in table_select("spark")
    True
    """
    return ",\n  ".join(table_columns(dialect, record))


def table_columns(dialect: str, record: str = "r") -> list[str]:
    """The expressions of :func:`table_select`, one per column."""
    sql = _DIALECTS[dialect]
    parts = [f"{_build(c, record, '$', sql)} AS {c.name}" for c in CLOUDTRAIL_COLUMNS]
    time = _build(CLOUDTRAIL_COLUMNS[2], record, "$", sql)
    parts.append(f"replace(substr({time}, 1, 10), '-', '/') AS {sql['quote'].format('timestamp')}")
    parts.append(f"{sql['text'].format(record)} AS {RECORD_COLUMN}")
    return parts


def _build(c: Column, doc: str, parent: str, sql: dict[str, str]) -> str:
    path = f"{parent}.{c.field}"
    if c.kind in ("string", "json", "map"):
        return sql[c.kind].format(doc=doc, path=path)
    if c.kind == "struct":
        return _struct(sql, [(f.name, _build(f, doc, path, sql)) for f in c.fields])
    item = _struct(sql, [(f.name, _build(f, "x", "$", sql)) for f in c.fields])
    return sql["structs"].format(doc=doc, path=path, item=item)


def _struct(sql: dict[str, str], items: list[tuple[str, str]]) -> str:
    return sql["struct"].format(", ".join(sql["field"].format(name=n, expr=e) for n, e in items))


# How each dialect reads a field of a JSON text ``doc`` at ``path``, and builds structs.
_DIALECTS: dict[str, dict[str, str]] = {
    "duckdb": {
        "string": "json_extract_string({doc}, '{path}')",
        "json": "nullif(CAST(json_extract({doc}, '{path}') AS VARCHAR), 'null')",
        "map": "CAST(json_transform(json_extract({doc}, '{path}'), '\"MAP(VARCHAR, VARCHAR)\"') "
               "AS MAP(VARCHAR, VARCHAR))",
        "struct": "struct_pack({})",
        "field": "{name} := {expr}",
        "structs": "list_transform(CAST(json_extract({doc}, '{path}') AS JSON[]), lambda x: {item})",
        "quote": '"{}"',
        "text": "CAST({} AS VARCHAR)",
    },
    "spark": {
        "string": "get_json_object({doc}, '{path}')",
        "json": "get_json_object({doc}, '{path}')",
        "map": "from_json(get_json_object({doc}, '{path}'), 'map<string,string>')",
        "struct": "named_struct({})",
        "field": "'{name}', {expr}",
        "structs": "transform(from_json(get_json_object({doc}, '{path}'), 'array<string>'), "
                   "x -> {item})",
        "quote": "`{}`",
        "text": "{}",
    },
}

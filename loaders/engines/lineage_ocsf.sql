-- One round of `graphtrail ingest --follow` over Amazon Security Lake: the same lineage as
-- lineage.sql, read from OCSF 1.x API Activity rows (class 6003) instead of CloudTrail's.
--
-- Written once, in the Trino / Athena dialect, over Security Lake's Athena table
-- (amazon_security_lake_table_REGION_cloud_trail_mgmt_2_0: nested structs, `time` in ms,
-- `unmapped` a map, partitioned by region, accountid and an `eventday` string yyyyMMdd);
-- sqlglot transpiles it for DuckDB over a local copy of the Parquet (loaders/engines/query.py).
-- Column to field as loaders/securitylake.py maps them back: actor.user.credential_uid is the
-- accessKeyId, actor.user.uid the ARN, uid_alt the principalId, api.response.data the
-- responseElements (JSON text), unmapped['sharedEventID'] the sharedEventID.
--
-- Where OCSF lost what a condition reads (api.response.data or unmapped not kept), that
-- condition finds nothing: the ingest's linking gaps say which field was missing.
-- A console session's creation date (OCSF: ms, not text) is not compared: every call of the
-- session's ARN is fetched, a superset the linker tells apart.
SELECT *
FROM ocsf
WHERE eventday >= :since_eventday AND eventday <= :until_eventday
  AND "time" >= :since_ms AND "time" <= :until_ms
  AND (
    actor.user.credential_uid IN (:keys)
    OR actor.user.credential_uid IN (:ancestor_keys)
    OR actor.user.uid_alt IN (:ancestor_principal_ids)
    OR json_extract_scalar(api.response.data, '$.credentials.accessKeyId') IN (:opened_keys)
    OR json_extract_scalar(api.response.data, '$.accessKey.accessKeyId') IN (:opened_keys)
    OR json_extract_scalar(api.response.data, '$.assumedRoleUser.arn') IN (:session_arns)
    OR actor.user.uid_alt IN (:principal_ids)
    OR actor.user.uid IN (:console_arns)
    OR actor.user.uid IN (:principals)
    OR actor.session.issuer IN (:principals)
    OR (actor.user.type = 'IAMUser' AND actor.user.name IN (:users))
    OR (api.operation IN ('CreateAccessKey', 'CreateLoginProfile', 'UpdateLoginProfile')
        AND json_extract_scalar(api.request.data, '$.userName') IN (:users))
    OR (api.operation LIKE 'AssumeRole%'
        AND json_extract_scalar(api.request.data, '$.roleArn') IN (:roles))
    OR (api.operation IN ('DeleteAccessKey', 'UpdateAccessKey')
        AND json_extract_scalar(api.request.data, '$.accessKeyId') IN (:keys))
    OR api.operation IN (:portal_events)
    OR element_at(unmapped, 'sharedEventID') IN (:shared_event_ids)
    OR src_endpoint.ip IN (:ips)
  )

-- One round of `graphtrail ingest --follow`: every record of the lineage known so far.
--
-- Written once, in the Trino / Athena dialect, over the CloudTrail table of the AWS
-- documentation ("Creating the table for CloudTrail logs in Athena using partition
-- projection": lower-case columns, userIdentity a struct, requestParameters and
-- responseElements JSON strings, partitioned by a `timestamp` string yyyy/MM/dd).
-- sqlglot transpiles it for DuckDB and Spark (loaders/engines/query.py).
--
-- Each `IN (:name)` is replaced by literals of values that passed a strict pattern (a key
-- id, an ARN, an address...), or by FALSE when the set is empty; :since and :until by the
-- window, or TRUE when open. Nothing read from a log is ever spliced in as text.
SELECT *
FROM cloudtrail
WHERE "timestamp" >= :since_day AND "timestamp" <= :until_day
  AND eventtime >= :since AND eventtime <= :until
  AND (
    -- the credentials' own calls (a recycled key id's other sessions too: the linker
    -- needs them to tell the sessions apart)
    useridentity.accesskeyid IN (:keys)
    -- whoever opened them, upwards to the origin: their calls (not their other descendants)
    OR useridentity.accesskeyid IN (:ancestor_keys)
    OR useridentity.principalid IN (:ancestor_principal_ids)
    -- the calls that opened them: the STS call (both copies, one key) or CreateAccessKey
    OR json_extract_scalar(responseelements, '$.credentials.accessKeyId') IN (:opened_keys)
    OR json_extract_scalar(responseelements, '$.accessKey.accessKeyId') IN (:opened_keys)
    -- the session a console or Identity Center key belongs to, named by its ARN
    OR json_extract_scalar(responseelements, '$.assumedRoleUser.arn') IN (:session_arns)
    -- the role owner's copy of a cross-account call names the caller by principalId only
    OR useridentity.principalid IN (:principal_ids)
    -- the other keys of a console sign-in, and the ConsoleLogin that opened it
    OR (useridentity.arn IN (:console_arns)
        AND (useridentity.sessioncontext.attributes.creationdate IN (:console_created)
             OR eventname = 'ConsoleLogin'))
    -- principals followed: their calls, their roles' sessions
    OR useridentity.arn IN (:principals)
    OR useridentity.sessioncontext.sessionissuer.arn IN (:principals)
    -- users whose keys or login profiles the lineage made: their sign-ins and keys
    OR (useridentity.type = 'IAMUser' AND useridentity.username IN (:users))
    OR (eventname IN ('CreateAccessKey', 'CreateLoginProfile', 'UpdateLoginProfile')
        AND json_extract_scalar(requestparameters, '$.userName') IN (:users))
    -- roles whose trust the lineage opened: who assumed them afterwards
    OR (eventname LIKE 'AssumeRole%'
        AND json_extract_scalar(requestparameters, '$.roleArn') IN (:roles))
    -- keys of the lineage deactivated or deleted, by whoever did it
    OR (eventname IN ('DeleteAccessKey', 'UpdateAccessKey')
        AND json_extract_scalar(requestparameters, '$.accessKeyId') IN (:keys))
    -- Identity Center: the portal sign-ins and calls behind its sessions
    OR eventname IN (:portal_events)
    -- the other copy of every cross-account call of the lineage
    OR sharedeventid IN (:shared_event_ids)
    -- addresses followed
    OR sourceipaddress IN (:ips)
  )

// Timeline of an access key: every call made with it (or with the sessions issued under that
// temporary key id), in time order, with where it came from and whether it succeeded.
// $access_key   the access key id (AKIA... or ASIA...)
// :params {access_key: 'AKIA52CAMQMUDNLGK7SQ'}
MATCH (cred)
WHERE cred.id = 'key:' + $access_key OR (cred:Session AND cred.access_key_id = $access_key)
MATCH (cred)-[:MADE]->(c:Call)
RETURN c.time AS time, c.event_id AS event_id, c.event_name AS event_name,
       c.identity_arn AS identity_arn, c.recipient_account_id AS account, c.region AS region,
       c.source_ip AS source_ip, c.error_code AS error_code, c.resource AS resource
ORDER BY c.time_us, c.event_id

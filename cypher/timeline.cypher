// id: timeline
// Timeline of an access key: every call made with it, in time order, in the window. A
// temporary key id (ASIA...) stands for every session issued under it that could act in the
// window (a session whose expiry is unknown lives at most 36 hours). With $lineage, also the
// calls of every credential derived from it: sessions at any depth, keys and users created,
// console sessions after a password change (the DERIVES relationships that
// cypher/derived_credentials.cypher writes at push), a derivation after $until cut off.
// $access_key   the access key id (AKIA... or ASIA...)
// $lineage      true: also every derived credential's calls; false: the key's own
// $since        epoch microseconds (UTC), or null
// $until        epoch microseconds (UTC), or null
// :params {access_key: 'AKIA52CAMQMUDNLGK7SQ', lineage: true, since: null, until: null}
MATCH (seed:Graphtrail)
WHERE (seed:AccessKey AND NOT $access_key STARTS WITH 'ASIA' AND seed.id = 'key:' + $access_key)
   OR (seed:Session AND $access_key STARTS WITH 'ASIA'
       AND (seed.access_key_id = $access_key OR $access_key IN coalesce(seed.access_key_ids, []))
       AND (seed.issued_us IS NULL
            OR (($until IS NULL OR seed.issued_us <= $until)
                AND ($since IS NULL OR coalesce(seed.expires_us, seed.issued_us + 129600000000) >= $since))))
MATCH (seed)-[steps:DERIVES*0..32]->(cred:Graphtrail)
WHERE (size(steps) = 0 OR $lineage)
  AND all(d IN steps WHERE $until IS NULL OR d.time_us IS NULL OR d.time_us <= $until)
WITH DISTINCT cred.id AS actor
MATCH (c:Call {actor: actor})
WHERE ($since IS NULL OR c.time_us >= $since) AND ($until IS NULL OR c.time_us <= $until)
RETURN c.time_us AS time_us, c.event_id AS event_id, c.actor AS actor,
       c.identity_arn AS identity_arn, c.event_source AS event_source,
       c.event_name AS event_name, c.recipient_account_id AS recipient_account_id,
       c.region AS region, c.resource AS resource, c.source_ip AS source_ip,
       c.user_agent AS user_agent,
       CASE WHEN c.error_code IS NULL THEN 'success' ELSE 'error: ' + c.error_code END AS outcome,
       c.error_code AS error_code, c.source_file AS source_file, coalesce(c.occurrence, 1) AS occurrence
ORDER BY time_us, event_id, occurrence

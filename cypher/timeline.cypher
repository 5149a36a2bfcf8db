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
// each group of their calls (eventIDs and times as lists) unwound into single calls
MATCH (g:Call {actor: actor})
WHERE ($since IS NULL OR g.last_us >= $since) AND ($until IS NULL OR g.first_us <= $until)
UNWIND range(0, size(g.event_ids) - 1) AS i
WITH g, i, g.times_us[i] AS time_us
WHERE ($since IS NULL OR time_us >= $since) AND ($until IS NULL OR time_us <= $until)
RETURN time_us, g.event_ids[i] AS event_id, g.actor AS actor,
       g.identity_arn AS identity_arn, g.event_source AS event_source,
       g.event_name AS event_name, g.recipient_account_id AS recipient_account_id,
       g.region AS region, g.resource AS resource, g.source_ip AS source_ip,
       g.user_agent AS user_agent,
       CASE WHEN g.error_code IS NULL THEN 'success' ELSE 'error: ' + g.error_code END AS outcome,
       g.error_code AS error_code, g.source_files[i] AS source_file,
       coalesce(g.occurrences[i], 1) AS occurrence
ORDER BY time_us, event_id, occurrence

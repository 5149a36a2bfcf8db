// Blast radius of an access key: every credential derived from it and every call they made.
// Follows sessions it issued at any depth (role chaining, across accounts), access keys it
// created, and keys of users it created; returns each credential with its calls' eventIDs and
// the eventIDs of the call that opened it, the seed's own included (both copies of a
// cross-account AssumeRole, the ConsoleLogin of a console session, the portal call).
// A console session is found by any of the keys it used.
// $access_key   the access key id (AKIA... or ASIA...)
// :params {access_key: 'AKIA52CAMQMUDNLGK7SQ'}
MATCH (seed)
WHERE seed.id = 'key:' + $access_key
   OR (seed:Session AND (seed.access_key_id = $access_key
                         OR $access_key IN coalesce(seed.access_key_ids, [])))
MATCH (seed)-[:ISSUED|CREATED|HAS_KEY*0..12]->(cred)
WHERE cred:Session OR cred:AccessKey
WITH DISTINCT seed, cred
OPTIONAL MATCH (cred)-[:MADE]->(c:Call)
WITH seed, cred, collect(c.event_id) AS calls
OPTIONAL MATCH ()-[i:ISSUED]->(cred)
RETURN cred.id AS credential, labels(cred)[0] AS kind, cred.principal AS acts_as,
       size(calls) AS call_count, calls AS event_ids,
       coalesce(i.event_ids, []) AS issued_by_event_ids
ORDER BY credential

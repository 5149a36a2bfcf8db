// Persistence: keys, users, login profiles and policy versions created, and permission or
// trust changes, with the credential that made them and whether a created key was used.
// No parameters.
// :params {}
MATCH (actor)-[r:CREATED|CHANGED]->(target)
OPTIONAL MATCH (target)-[:MADE]->(use:Call)
WITH actor, r, target, count(use) AS uses
RETURN type(r) AS what, labels(target)[0] AS target_kind, target.id AS target,
       actor.id AS by, r.first_seen AS time, r.event_ids AS event_ids, uses AS calls_made_with_it
ORDER BY r.first_seen

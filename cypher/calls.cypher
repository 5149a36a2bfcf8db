// Every API call matching the filters, in time order, with the credential that made it.
// $actors       list of credential ids (key:AKIA..., session:ASIA...@time, a principal ARN), or null
// $event_names  list of event names, or null
// $source_ip    one source IP address, or null
// $since        epoch microseconds (UTC), or null
// $until        epoch microseconds (UTC), or null
// :params {actors: ['key:AKIAEXAMPLEKEY00001'], event_names: null, source_ip: null, since: null, until: null}
// A (:Call) node is a group of calls (eventIDs and times as lists): unwound into single calls.
MATCH (g:Call)
WHERE ($actors IS NULL OR g.actor IN $actors)
  AND ($event_names IS NULL OR g.event_name IN $event_names)
  AND ($source_ip IS NULL OR g.source_ip = $source_ip)
  AND ($since IS NULL OR g.last_us >= $since) AND ($until IS NULL OR g.first_us <= $until)
UNWIND range(0, size(g.event_ids) - 1) AS i
WITH g, i, g.times_us[i] AS time_us
WHERE ($since IS NULL OR time_us >= $since) AND ($until IS NULL OR time_us <= $until)
WITH {event_id: g.event_ids[i], time_us: time_us, occurrence: coalesce(g.occurrences[i], 1),
      actor: g.actor, actor_kind: g.actor_kind, resource: g.resource, event_source: g.event_source,
      event_name: g.event_name, error_code: g.error_code, source_ip: g.source_ip,
      user_agent: g.user_agent, region: g.region, recipient_account_id: g.recipient_account_id,
      account_id: g.account_id, identity_type: g.identity_type, identity_arn: g.identity_arn,
      read_only: g.read_only, shared_event_id: g.shared_event_ids[i],
      source_file: g.source_files[i], detail: g.details[i], access_key_id: g.access_key_id} AS call
RETURN call
ORDER BY call.time_us, call.event_id, call.occurrence

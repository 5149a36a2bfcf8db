// Every API call matching the filters, in time order, with the credential that made it.
// $actors       list of credential ids (key:AKIA..., session:ASIA...@time, a principal ARN), or null
// $event_names  list of event names, or null
// $source_ip    one source IP address, or null
// $since        epoch microseconds (UTC), or null
// $until        epoch microseconds (UTC), or null
// :params {actors: ['key:AKIAEXAMPLEKEY00001'], event_names: null, source_ip: null, since: null, until: null}
MATCH (c:Call)
WHERE ($actors IS NULL OR c.actor IN $actors)
  AND ($event_names IS NULL OR c.event_name IN $event_names)
  AND ($source_ip IS NULL OR c.source_ip = $source_ip)
  AND ($since IS NULL OR c.time_us >= $since)
  AND ($until IS NULL OR c.time_us <= $until)
RETURN properties(c) AS call
ORDER BY c.time_us, c.event_id, coalesce(c.occurrence, 1)

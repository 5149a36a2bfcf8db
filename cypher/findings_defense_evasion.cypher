// Defense evasion: CloudTrail stopped, deleted or reduced; GuardDuty, Config, flow logs
// disabled; an account leaving its organization. Successful calls only.
// $event_names  the calls to look for
// :params {event_names: ['StopLogging', 'DeleteTrail', 'PutEventSelectors', 'UpdateTrail', 'DeleteDetector', 'StopConfigurationRecorder', 'DeleteFlowLogs', 'LeaveOrganization']}
MATCH (actor)-[:MADE]->(c:Call)
WHERE c.event_name IN $event_names AND c.error_code IS NULL
RETURN c.time AS time, c.event_name AS event_name, c.resource AS resource,
       c.recipient_account_id AS account, actor.id AS credential, c.event_id AS event_id
ORDER BY c.time_us

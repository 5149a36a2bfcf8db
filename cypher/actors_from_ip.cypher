// The credentials (and principals acting without one) seen calling from an IP address.
// $ip           the source IP address
// :params {ip: '198.51.100.23'}
MATCH (a)-[:FROM_IP]->(:IpAddress {id: 'ip:' + $ip})
RETURN DISTINCT a.id AS actor

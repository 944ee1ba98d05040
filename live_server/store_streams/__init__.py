"""Store streams: live delivery with replay to staff (/store), consumer groups for
integrations (POS/CRM), dead letters, retention trimming and the check-in endpoint.

``models`` shapes and errors; ``store`` Redis and the Lua scripts; ``service`` the rules
(check-in, acks, dead-letter policy, retention); ``replay`` the /store feed; ``groups``
consumer-group members; ``events`` the entry format (the named interface other domains
use); ``ids`` stream ids; ``tail`` the ``store-tail`` command; ``routes``; ``wiring``."""

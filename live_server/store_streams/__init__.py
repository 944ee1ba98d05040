"""Store streams: live delivery with replay to staff (/store), consumer groups for
integrations (POS/CRM), dead letters, retention trimming and the check-in endpoint."""

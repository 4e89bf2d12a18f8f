-- PostgreSQL cannot drop an enum value: the keys that have it go, and the value stays unused.
DELETE FROM api_keys WHERE scope::text = 'audit:read';

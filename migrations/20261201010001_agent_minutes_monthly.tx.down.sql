DROP TABLE IF EXISTS agent_minutes_monthly;
DROP FUNCTION IF EXISTS atrium_agent_minutes_sync() CASCADE;

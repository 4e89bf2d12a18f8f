DROP FUNCTION atrium_quota_use_alert(uuid, text, timestamptz, bigint, timestamptz);
DROP FUNCTION atrium_quota_alert(uuid, text, timestamptz, bigint, bigint, bigint, timestamptz);
DROP TABLE quota_alerts;
DROP TABLE quota_alert_settings;

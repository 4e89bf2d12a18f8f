DROP TABLE IF EXISTS user_sessions;
DROP TABLE IF EXISTS login_failures;

DROP FUNCTION IF EXISTS atrium_second_factor_users(uuid[]);

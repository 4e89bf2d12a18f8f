-- Which of a page of users have a second factor in use, in one call: the members page asks it once
-- for its rows rather than calling atrium_has_second_factor per row (each call of a SECURITY
-- DEFINER function with its own search_path saves and restores the configuration, which cost the
-- page's statement about as much as everything else in it). It answers exactly as
-- atrium_has_second_factor does; models/member_counts_test.go holds the two to each other.
CREATE FUNCTION atrium_second_factor_users(p_users uuid[])
RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT t.user_id FROM user_totp AS t WHERE t.user_id = ANY (p_users) AND t.enabled_at IS NOT NULL
  UNION
  SELECT p.user_id FROM passkeys AS p WHERE p.user_id = ANY (p_users)
$$;

REVOKE ALL ON FUNCTION atrium_second_factor_users(uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_second_factor_users(uuid[]) TO atrium_app;

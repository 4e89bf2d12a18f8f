-- A passkey is a second factor too: a person with an authenticator app or at least one passkey
-- has one (the workspace requirement, support staff, the members page and the log-in's second
-- step all read this function).
CREATE OR REPLACE FUNCTION atrium_has_second_factor(p_user uuid)
RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  RETURN EXISTS (SELECT 1 FROM user_totp WHERE user_id = p_user AND enabled_at IS NOT NULL)
      OR EXISTS (SELECT 1 FROM passkeys WHERE user_id = p_user);
END
$$;

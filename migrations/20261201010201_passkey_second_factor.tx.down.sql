CREATE OR REPLACE FUNCTION atrium_has_second_factor(p_user uuid)
RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  RETURN EXISTS (SELECT 1 FROM user_totp WHERE user_id = p_user AND enabled_at IS NOT NULL);
END
$$;

CREATE OR REPLACE FUNCTION atrium_month_minutes(p_ws uuid, p_month timestamptz) RETURNS bigint
LANGUAGE sql STABLE SET search_path = pg_catalog, public AS $$
  SELECT coalesce((SELECT m.agent_minutes FROM usage_monthly AS m WHERE m.workspace_id = p_ws AND m.month = p_month), 0)
       + coalesce((SELECT sum(s.agent_minutes) FROM usage_minutes_slots AS s
                   WHERE s.workspace_id = p_ws AND s.hour >= p_month AND s.hour < p_month + interval '1 month'), 0)::bigint
$$;

CREATE OR REPLACE FUNCTION atrium_second_factor_users(p_users uuid[])
RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT t.user_id FROM user_totp AS t WHERE t.user_id = ANY (p_users) AND t.enabled_at IS NOT NULL
  UNION
  SELECT p.user_id FROM passkeys AS p WHERE p.user_id = ANY (p_users)
$$;

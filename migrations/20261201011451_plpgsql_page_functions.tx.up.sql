-- Two lookups that console pages call on every view, from SQL to PL/pgSQL. A SQL function that
-- cannot be inlined (one with a SET clause, SECURITY DEFINER, or scalar subqueries in its body) is
-- parsed and planned again on every call; a PL/pgSQL function keeps its statements' plans for the
-- session. Measured with pgbench, one client, prepared: SELECT atrium_month_minutes(…) took
-- 0.18–0.21 ms as SQL and 0.07–0.08 ms as PL/pgSQL, where SELECT 1 takes 0.03 ms; the overview,
-- usage and settings pages call it once each, as does a task start on a tier with an agent-minute
-- limit. What each returns is unchanged.

-- The month's agent-minutes of workspace p_ws: the month's row plus the hour slots not yet folded
-- into it (20261201011101).
CREATE OR REPLACE FUNCTION atrium_month_minutes(p_ws uuid, p_month timestamptz) RETURNS bigint
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, public AS $$
BEGIN
  RETURN coalesce((SELECT m.agent_minutes FROM usage_monthly AS m WHERE m.workspace_id = p_ws AND m.month = p_month), 0)
       + coalesce((SELECT sum(s.agent_minutes) FROM usage_minutes_slots AS s
                   WHERE s.workspace_id = p_ws AND s.hour >= p_month AND s.hour < p_month + interval '1 month'), 0)::bigint;
END
$$;

-- Which of p_users have a second factor in use (the members page, once per page).
CREATE OR REPLACE FUNCTION atrium_second_factor_users(p_users uuid[])
RETURNS SETOF uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  RETURN QUERY
  SELECT t.user_id FROM user_totp AS t WHERE t.user_id = ANY (p_users) AND t.enabled_at IS NOT NULL
  UNION
  SELECT p.user_id FROM passkeys AS p WHERE p.user_id = ANY (p_users);
END
$$;

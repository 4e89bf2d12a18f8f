-- The throttle's scopes in one list: log-in (account, ip), password reset (reset_account,
-- reset_ip) and the second log-in step (second_user, second_ip).
ALTER TABLE login_failures DROP CONSTRAINT login_failures_scope_check;
ALTER TABLE login_failures ADD CONSTRAINT login_failures_scope_check
  CHECK (scope IN ('account', 'ip', 'reset_account', 'reset_ip', 'second_user', 'second_ip'));

DELETE FROM login_failures WHERE scope IN ('second_user', 'second_ip');
ALTER TABLE login_failures DROP CONSTRAINT login_failures_scope_check;
ALTER TABLE login_failures ADD CONSTRAINT login_failures_scope_check
  CHECK (scope IN ('account', 'ip', 'reset_account', 'reset_ip'));

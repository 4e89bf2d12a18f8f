package models

// HookContext binds a context to a workspace the way InWorkspace does, without the transaction,
// so a test can show what the model hooks alone do on a connection row-level security does not
// restrict. Only tests can reach it.
var HookContext = withWorkspace

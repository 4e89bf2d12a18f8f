package models_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"atrium/models"
	"atrium/models/testdb"
)

// TestTOTPCodePassesOnce: a code sent by many requests at the same moment passes exactly once (the
// step is taken by one conditional update), an older step's code never passes after a newer one,
// and a recovery code is spent once.
func TestTOTPCodePassesOnce(t *testing.T) {
	ctx := context.Background()
	db := testdb.Get(t).App
	now := testdb.Now(t)
	u, err := models.CreateUser(ctx, db, models.NewUser{Email: fmt.Sprintf("totp-%d@example.com", now.UnixNano()), Password: "a long enough password"}, testdb.Clock())
	if err != nil {
		t.Fatal(err)
	}
	secret, err := models.BeginTOTP(ctx, db, u, now)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := models.TOTPCode(secret, now)
	codes, err := models.EnableTOTP(ctx, db, u, first, now)
	if err != nil || len(codes) != models.RecoveryN {
		t.Fatalf("enable: %d codes, %v", len(codes), err)
	}
	if _, err := models.BeginTOTP(ctx, db, u, now); err == nil {
		t.Fatal("a second enrolment while on")
	}
	later := now.Add(30 * time.Second)
	code, _ := models.TOTPCode(secret, later)
	var passed atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			ok, err := models.VerifyTOTP(ctx, db, u.ID, code, later)
			if err != nil {
				t.Error(err)
			}
			if ok {
				passed.Add(1)
			}
		})
	}
	wg.Wait()
	if n := passed.Load(); n != 1 {
		t.Fatalf("the same code passed %d times", n)
	}
	if ok, _ := models.VerifyTOTP(ctx, db, u.ID, first, later); ok {
		t.Fatal("an older step's code passed after a newer one")
	}
	if ok, _ := models.VerifyTOTP(ctx, db, u.ID, code, later.Add(5*time.Minute)); ok {
		t.Fatal("a code five minutes old passed")
	}
	for i, want := range []bool{true, false} {
		ok, err := models.UseRecoveryCode(ctx, db, u, codes[0], later)
		if err != nil || ok != want {
			t.Fatalf("recovery code, use %d: %v, %v", i+1, ok, err)
		}
	}
	if has, err := models.UserHasSecondFactor(ctx, db, u.ID); err != nil || !has {
		t.Fatalf("has a second factor: %v, %v", has, err)
	}
}

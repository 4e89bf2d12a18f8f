//go:build !unix

package pgembed

import (
	"context"
	"strings"
	"testing"
)

func TestStartRefusesWithAClearMessage(t *testing.T) {
	_, err := Start(context.Background(), Options{DataDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Fatalf("Start = %v, want a refusal naming DATABASE_URL", err)
	}
	if _, err := FindBinaries(); err == nil {
		t.Fatal("FindBinaries found server binaries where the launcher cannot run")
	}
}
